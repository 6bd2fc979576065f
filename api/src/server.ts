import http from 'node:http';
import type { Socket } from 'node:net';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './observability/logger.js';
import { createRuntime } from './runtime.js';
import { OpenSet } from './http/open-set.js';
import { SocketSlots } from './http/socket-slots.js';
import { createDatabase } from './data/db.js';
import { migrate, seed } from './domain/setup.js';
import type { Logger } from './observability/logger.js';

/** Development stack: migrate (advisory lock makes concurrent replicas safe) and seed an empty catalogue. */
async function prepareDatabase(config: Config, logger: Logger): Promise<void> {
  const database = createDatabase({ url: config.databaseUrl, poolMax: 2, poolTimeoutMs: 30_000, applicationName: 'shop-api-setup' });
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

  const callback = app.koa.callback();
  const inFlight = new OpenSet<http.ServerResponse>();
  let draining = false;
  const drained: Array<() => void> = [];
  // One shared listener ('close' fires once per response): no closure or once() wrapper per request.
  function settled(this: http.ServerResponse): void {
    inFlight.delete(this);
    if (inFlight.size === 0 && drained.length > 0) drained.splice(0).forEach((resolve) => resolve());
  }
  const sockets = new OpenSet<Socket>();
  // Connections whose next response carries `Connection: close` (the slots they came through moved).
  const recycle = new WeakSet<Socket>();
  function makeServer(): { server: http.Server; connections: OpenSet<Socket> } {
    const server = http.createServer(callback);
    // Longer than nginx's upstream keepalive_timeout, so the proxy closes idle connections first.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 120_000;
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      inFlight.add(res);
      if (draining || recycle.has(req.socket)) {
        res.setHeader('Connection', 'close');
        recycle.delete(req.socket);
      }
      res.on('close', settled);
    });
    const connections = new OpenSet<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      connections.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        connections.delete(socket);
      });
    });
    return { server, connections };
  }
  const listen = (server: http.Server, where: number | { path: string; readableAll: boolean; writableAll: boolean }) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where, () => {
        server.off('error', reject);
        resolve();
      });
    });

  // TCP: health checks, metrics, and the proxy where it connects by address (swarm).
  const { server } = makeServer();
  await listen(server, config.port);
  const address = server.address();
  logger.info({ port: typeof address === 'object' && address ? address.port : config.port, version: config.appVersion, environment: config.environment }, 'listening');

  // Unix socket slots: how nginx reaches this replica on one host (socket-slots.ts, docs/stack.md).
  let slots: { registry: SocketSlots; servers: http.Server[]; connections: OpenSet<Socket> } | undefined;
  let joinTimer: NodeJS.Timeout | undefined;
  if (config.socketDir) {
    const connections = new OpenSet<Socket>();
    const servers: http.Server[] = [];
    const listenUnix = async () => {
      const unix = makeServer();
      unix.server.on('connection', (socket: Socket) => {
        connections.add(socket);
        socket.once('close', () => connections.delete(socket));
      });
      await listen(unix.server, { path: registry.socketPath, readableAll: true, writableAll: true });
      servers.push(unix.server);
    };
    const registry = new SocketSlots({
      dir: config.socketDir,
      slots: config.socketSlots,
      version: config.appVersion,
      log: (level, fields, message) => logger[level](fields, message),
      relisten: listenUnix,
      onSlotsLost: () => {
        for (const c of connections) recycle.add(c);
      },
    });
    await registry.prepare();
    await listenUnix();
    slots = { registry, servers, connections };
    // Take slots only once ready (the database answers): nginx then never meets a replica that cannot serve.
    const join = async () => {
      if (draining) return;
      if ((await health.ready()).ok) {
        registry.start();
        logger.info({ socket: registry.socketPath, slots: config.socketSlots }, 'ready: taking socket slots');
      } else joinTimer = setTimeout(() => void join(), 500);
    };
    void join();
  }

  const waitUntil = (condition: () => boolean, deadline: number) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (condition()) resolve(true);
        else if (Date.now() >= deadline) resolve(false);
        else setTimeout(check, 50).unref();
      };
      check();
    });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    const deadline = Date.now() + config.shutdownTimeoutMs;
    logger.info({ signal, in_flight: inFlight.size, timeout_ms: config.shutdownTimeoutMs }, 'shutting down: draining in-flight requests');
    health.markShuttingDown();
    if (joinTimer) clearTimeout(joinTimer);
    // Responses still to be written tell keep-alive clients not to reuse this connection.
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    if (slots) {
      // Slots to the other replicas first, then no socket path leads here: nginx's next connect goes elsewhere.
      const moved = await slots.registry.leave();
      logger.info({ slots_moved: moved }, 'left the socket slots');
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const finished = await waitUntil(() => inFlight.size === 0, deadline);
    // nginx's kept-alive connections to this replica: each gets `Connection: close` with its next
    // response, and idle ones are closed by nginx (its upstream keepalive_timeout). Closing them
    // here instead could race a request nginx is sending on one at that moment.
    const released = slots ? await waitUntil(() => slots.connections.size === 0 && inFlight.size === 0, deadline) : true;
    clearInterval(idle);
    if (!finished || !released) logger.warn({ in_flight: inFlight.size, proxy_connections: slots?.connections.size ?? 0 }, 'shutdown timeout reached: closing the remaining connections');
    for (const unix of slots?.servers ?? []) {
      unix.close();
      unix.closeAllConnections();
    }
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
