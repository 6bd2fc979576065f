import pgPromise from 'pg-promise';
import type { DbOperation } from '../observability/metrics.js';

export type Db = pgPromise.IDatabase<unknown>;
/** What a repository takes: the database or a task/transaction, alike. */
export type Queryable = pgPromise.IBaseProtocol<unknown>;

export interface DbOptions {
  url: string;
  poolMax: number;
  /** How long a query waits for a free connection (or a new one to connect) before the request gets 503. */
  poolTimeoutMs?: number;
  applicationName?: string;
  /** Called after every successful query with its duration. */
  onQuery?: (operation: DbOperation, seconds: number) => void;
}

export interface Database {
  db: Db;
  pgp: pgPromise.IMain;
  close(): Promise<void>;
  poolStats(): { total: number; idle: number; waiting: number; max: number };
}

const OPERATIONS: Record<string, DbOperation> = { SELECT: 'select', INSERT: 'insert', UPDATE: 'update', DELETE: 'delete' };

/** PostgreSQL error codes the repositories translate into domain outcomes. */
export const PG = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  undefinedDatabase: '3D000',
} as const;

export function pgErrorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export function pgConstraint(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'constraint' in err ? String((err as { constraint: unknown }).constraint) : undefined;
}

/** The one pg-promise instance of a process (tests build one per app under test). */
export function createDatabase(opts: DbOptions): Database {
  const onQuery = opts.onQuery;
  const pgp = pgPromise({
    noWarnings: true,
    receive: onQuery
      ? (e) => {
          const r = e.result;
          if (r && typeof r.duration === 'number') onQuery(OPERATIONS[r.command] ?? 'other', r.duration / 1000);
        }
      : undefined,
  });
  // Counts come back as int8; we cast in SQL instead of parsing bigints globally.
  const db = pgp({
    connectionString: opts.url,
    max: opts.poolMax,
    application_name: opts.applicationName ?? 'shop-api',
    connectionTimeoutMillis: opts.poolTimeoutMs ?? 3000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 15_000,
    keepAlive: true,
  } as Parameters<typeof pgp>[0]);
  return {
    db,
    pgp,
    async close() {
      await db.$pool.end();
    },
    poolStats() {
      const p = db.$pool;
      return { total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount, max: opts.poolMax };
    },
  };
}
