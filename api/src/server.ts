import http from 'node:http';
import type { Socket } from 'node:net';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './observability/logger.js';
import { createRuntime } from './runtime.js';
import { OpenSet } from './http/open-set.js';
import { createDatabase } from './data/db.js';
import { migrate, seed } from './domain/setup.js';
import type { Logger } from './observability/logger.js';

/** Development stack: migrate (advisory lock makes concurrent replicas safe) and seed an empty catalogue. */
async function prepareDatabase(config: Config, logger: Logger): Promise<void> {
  const database = createDatabase({ url: config.databaseUrl, poolMax: 2, applicationName: 'shop-api-setup' });
  try {
    if (config.migrateOnStart) await migrate(database.db, config, logger);
    if (config.seedSampleData) await seed(database.db, config, logger, true);
  } finally {
    await database.close();
  }
}

function readConfig(): Config {
  try {
    return loadConfig(process.env, 'server');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`shop-api: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const { logger, accessLog, flush } = createLogger({ level: config.logLevel });
  if (config.migrateOnStart || config.seedSampleData) await prepareDatabase(config, logger);
  const runtime = await createRuntime(config, logger, accessLog);
  const { app } = runtime;
  const { health } = runtime.services;

  const server = http.createServer(app.koa.callback());
  // Longer than Nginx's upstream keepalive_timeout (60 s), so the proxy closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  const inFlight = new OpenSet<http.ServerResponse>();
  let draining = false;
  const drained: Array<() => void> = [];
  // One shared listener ('close' fires once per response): no closure or once() wrapper per request.
  function settled(this: http.ServerResponse): void {
    inFlight.delete(this);
    if (inFlight.size === 0 && drained.length > 0) drained.splice(0).forEach((resolve) => resolve());
  }
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight.add(res);
    if (draining) res.setHeader('Connection', 'close');
    res.on('close', settled);
  });
  const sockets = new OpenSet<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  logger.info({ port: typeof address === 'object' && address ? address.port : config.port, version: config.appVersion, environment: config.environment }, 'listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    logger.info({ signal, in_flight: inFlight.size, timeout_ms: config.shutdownTimeoutMs }, 'shutting down: draining in-flight requests');
    health.markShuttingDown();
    // Responses still to be written tell keep-alive clients not to reuse this connection.
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const timedOut = await Promise.race([
      (inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => drained.push(resolve))).then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), config.shutdownTimeoutMs).unref()),
    ]);
    clearInterval(idle);
    if (timedOut) logger.warn({ in_flight: inFlight.size }, 'shutdown timeout reached: closing the remaining connections');
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await closed;
    try {
      await runtime.close();
    } catch (err) {
      logger.error({ err }, 'error while closing connections');
    }
    logger.info('stopped');
    flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`shop-api: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
