import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from './db.js';

// Arbitrary constant shared by every replica: one migrator at a time, the others wait.
const MIGRATION_LOCK_ID = 7_315_204_611;
const FILE_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new MigrationError(`cannot read migrations from ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (set DATABASE_DIR to the folder holding migrations/)`);
  }
  const files: MigrationFile[] = [];
  for (const file of entries.filter((f) => f.endsWith('.sql')).sort()) {
    const m = FILE_PATTERN.exec(file);
    if (!m) throw new MigrationError(`migration file ${file} must be named NNN_name.sql`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    files.push({ version: Number(m[1]), name: m[2]!, file, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.version === files[i - 1]!.version) throw new MigrationError(`two migrations share version ${files[i]!.version}`);
  }
  return files;
}

/** Applies pending migrations in order, each in its own transaction, under a session advisory lock. */
export async function runMigrations(db: Db, dir: string, onApplied?: (file: string) => void): Promise<MigrationResult> {
  const files = await readMigrations(dir);
  return db.task('migrate', async (t) => {
    await t.any('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await t.none(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const rows = await t.manyOrNone<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
      const applied = new Map(rows.map((r) => [r.version, r]));
      const known = new Set(files.map((f) => f.version));
      for (const r of rows) {
        if (!known.has(r.version)) throw new MigrationError(`migration ${r.version} (${r.name}) is recorded as applied but its file is missing from ${dir}`);
      }
      const result: MigrationResult = { applied: [], alreadyApplied: 0 };
      for (const f of files) {
        const done = applied.get(f.version);
        if (done) {
          if (done.checksum !== f.checksum) {
            throw new MigrationError(`migration ${f.file} changed after it was applied (checksum ${done.checksum.slice(0, 12)}... in the database, ${f.checksum.slice(0, 12)}... on disk): add a new migration instead of editing an applied one`);
          }
          result.alreadyApplied++;
          continue;
        }
        await t.tx(`migration ${f.file}`, async (tx) => {
          await tx.none(f.sql);
          await tx.none('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [f.version, f.name, f.checksum]);
        });
        result.applied.push(f.file);
        onApplied?.(f.file);
      }
      return result;
    } finally {
      await t.any('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  });
}

/** Loads sample-data.sql; with onlyIfEmpty, only into a catalogue without products. Returns whether it ran. */
export async function loadSampleData(db: Db, dir: string, onlyIfEmpty: boolean): Promise<boolean> {
  const file = path.join(dir, 'sample-data.sql');
  const sql = await readFile(file, 'utf8');
  return db.tx('seed', async (t) => {
    // Serialises concurrent seeders (several replicas starting with SEED_SAMPLE_DATA=true).
    await t.any('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID + 1]);
    if (onlyIfEmpty) {
      const { n } = await t.one<{ n: number }>('SELECT count(*)::int AS n FROM products');
      if (n > 0) return false;
    }
    await t.none(sql);
    return true;
  });
}
