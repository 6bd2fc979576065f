import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createDatabase, type Db } from '../data/db.js';
import { createLogger, type Logger } from '../observability/logger.js';

/**
 * Runs a database script (migrate, seed): config from the environment (a problem -> exit 1 with
 * one line each), synchronous JSON logs, one small pool closed at the end. Resolves to the exit code.
 */
export async function runDatabaseScript(name: string, body: (db: Db, config: Config, logger: Logger) => Promise<void>): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(process.env, 'migrate');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { logger } = createLogger({ level: config.logLevel, name: `shop-${name}`, destination: pino.destination({ dest: 1, sync: true }) });
  // A one-off job has no client waiting: a busy database gets 30 s to accept the connection.
  const database = createDatabase({ url: config.databaseUrl, poolMax: 2, poolTimeoutMs: 30_000, applicationName: `shop-${name}` });
  try {
    await body(database.db, config, logger);
    return 0;
  } catch (err) {
    logger.error({ err }, `${name} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}
