import type { Config } from '../config.js';
import type { Db } from '../data/db.js';
import { loadSampleData, runMigrations } from '../data/migrations.js';
import { ensureAdmin } from '../data/repos/users.js';
import type { Logger } from '../observability/logger.js';
import { hashPassword } from './passwords.js';

export const NO_ADMIN_MESSAGE = 'no admin created: set ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD';

/** Applies pending migrations, then creates the first admin when configured (idempotent; an existing admin keeps its password). */
export async function migrate(db: Db, config: Pick<Config, 'databaseDir' | 'admin'>, logger: Logger): Promise<void> {
  const dir = `${config.databaseDir.replace(/\/$/, '')}/migrations`;
  const result = await runMigrations(db, dir, (file) => logger.info({ migration: file }, `applied ${file}`));
  logger.info({ applied: result.applied.length, already_applied: result.alreadyApplied }, result.applied.length ? `applied ${result.applied.length} migration(s)` : 'database schema is up to date');
  if (!config.admin) {
    logger.warn(NO_ADMIN_MESSAGE);
    return;
  }
  const { username, email, password } = config.admin;
  // Hash only when the admin has to be created would need a read first; hashing always keeps it simple (~0.1 s).
  const outcome = await ensureAdmin(db, { username, email, passwordHash: await hashPassword(password) });
  const messages = {
    created: `admin "${username}" created`,
    promoted: `existing user "${username}" made an admin (password unchanged)`,
    exists: `admin "${username}" already exists (password unchanged)`,
  };
  logger.info({ admin: username, outcome }, messages[outcome]);
}

export async function seed(db: Db, config: Pick<Config, 'databaseDir' | 'environment'>, logger: Logger, onlyIfEmpty: boolean): Promise<boolean> {
  if (config.environment === 'production') {
    throw new Error('refusing to load sample data with ENVIRONMENT=production (it contains a demo account with a published password)');
  }
  const loaded = await loadSampleData(db, config.databaseDir, onlyIfEmpty);
  logger.info({ loaded }, loaded ? 'sample data loaded (demo shopper: demo / demo-password-123)' : 'sample data skipped: the catalogue already has products');
  return loaded;
}
