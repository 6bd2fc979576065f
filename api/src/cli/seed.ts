import { ConfigError, loadConfig } from '../config.js';
import { createDatabase } from '../data/db.js';
import { seed } from '../domain/setup.js';
import { createLogger } from '../observability/logger.js';
import { pino } from 'pino';

/** `npm run seed`: loads database/sample-data.sql (idempotent); refused in production. */
async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env, 'migrate');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`seed: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { logger } = createLogger({ level: config.logLevel, name: 'shop-seed', destination: pino.destination({ dest: 1, sync: true }) });
  const database = createDatabase({ url: config.databaseUrl, poolMax: 2, applicationName: 'shop-seed' });
  try {
    await seed(database.db, config, logger, false);
    return 0;
  } catch (err) {
    logger.error({ err }, `seed failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}

process.exitCode = await main();
