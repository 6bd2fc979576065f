import { ConfigError, loadConfig } from '../config.js';
import { createDatabase } from '../data/db.js';
import { MigrationError } from '../data/migrations.js';
import { migrate } from '../domain/setup.js';
import { createLogger } from '../observability/logger.js';
import { pino } from 'pino';

/** `npm run migrate`: pending migrations under an advisory lock, then the first admin. Exit 1 on any problem. */
async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env, 'migrate');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`migrate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { logger } = createLogger({ level: config.logLevel, name: 'shop-migrate', destination: pino.destination({ dest: 1, sync: true }) });
  const database = createDatabase({ url: config.databaseUrl, poolMax: 2, applicationName: 'shop-migrate' });
  try {
    await migrate(database.db, config, logger);
    return 0;
  } catch (err) {
    if (err instanceof MigrationError) logger.error(`migration failed: ${err.message}`);
    else logger.error({ err }, `migration failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}

process.exitCode = await main();
