import { migrate } from '../domain/setup.js';
import { runDatabaseScript } from './script.js';

/** `npm run migrate`: pending migrations under an advisory lock, then the first admin. Exit 1 on any problem. */
process.exitCode = await runDatabaseScript('migrate', (db, config, logger) => migrate(db, config, logger));
