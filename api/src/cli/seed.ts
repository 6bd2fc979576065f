import { seed } from '../domain/setup.js';
import { runDatabaseScript } from './script.js';

/** `npm run seed`: loads database/sample-data.sql (idempotent); refused in production. */
process.exitCode = await runDatabaseScript('seed', async (db, config, logger) => {
  await seed(db, config, logger, false);
});
