import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pgPromise from 'pg-promise';
import { MigrationError, runMigrations } from '../../api/src/data/migrations.js';
import { DATABASE_DIR, TEST_DATABASE_URL, dropDatabase, withDatabase } from './helpers/harness.js';

const pgp = pgPromise({ noWarnings: true });
const MIGRATE = fileURLToPath(new URL('../../api/src/cli/migrate.ts', import.meta.url));
const SEED = fileURLToPath(new URL('../../api/src/cli/seed.ts', import.meta.url));

const created: string[] = [];
const dirs: string[] = [];

async function freshDatabase(): Promise<{ url: string; db: pgPromise.IDatabase<unknown> }> {
  const name = `test_migrate_${randomBytes(6).toString('hex')}`;
  const admin = pgp(TEST_DATABASE_URL);
  await admin.none('CREATE DATABASE $1:name', [name]);
  await admin.$pool.end();
  created.push(name);
  const url = withDatabase(TEST_DATABASE_URL, name);
  return { url, db: pgp({ connectionString: url, max: 5 }) };
}

test.after.always(async () => {
  for (const name of created) await dropDatabase(name);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import=tsx', script], { env: { PATH: process.env.PATH, DATABASE_DIR, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

test('concurrent migrators apply each file exactly once, recorded with its checksum', async (t) => {
  const { db } = await freshDatabase();
  const dir = `${DATABASE_DIR}migrations`;
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).length;
  const results = await Promise.all([runMigrations(db, dir), runMigrations(db, dir), runMigrations(db, dir)]);
  t.is(results.reduce((n, r) => n + r.applied.length, 0), files);
  t.deepEqual(results.map((r) => r.applied.length + r.alreadyApplied), [files, files, files]);
  const rows = await db.any('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version');
  t.is(rows.length, files);
  t.like(rows[0], { version: 1, name: 'initial' });
  t.regex(rows[0].checksum, /^[0-9a-f]{64}$/);
  await db.$pool.end();
});

test('new files are applied in order; editing an applied file is refused; a failing file changes nothing', async (t) => {
  const { db } = await freshDatabase();
  const dir = mkdtempSync(path.join(tmpdir(), 'shop-migrations-'));
  dirs.push(dir);
  cpSync(`${DATABASE_DIR}migrations`, dir, { recursive: true });
  await runMigrations(db, dir);
  writeFileSync(path.join(dir, '902_add_sku.sql'), 'ALTER TABLE products ADD COLUMN sku text;');
  writeFileSync(path.join(dir, '903_sku_index.sql'), 'CREATE INDEX products_sku_idx ON products (sku);');
  t.deepEqual((await runMigrations(db, dir)).applied, ['902_add_sku.sql', '903_sku_index.sql']);

  writeFileSync(path.join(dir, '904_broken.sql'), 'ALTER TABLE products ADD COLUMN color text; SELECT no_such_function();');
  await t.throwsAsync(runMigrations(db, dir));
  const cols = await db.any("SELECT 1 FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'color'");
  t.is(cols.length, 0, 'the failed file was rolled back whole');
  t.is((await db.one<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')).n, readdirSync(`${DATABASE_DIR}migrations`).length + 2);
  rmSync(path.join(dir, '904_broken.sql'));

  appendFileSync(path.join(dir, '902_add_sku.sql'), '\n-- edited');
  const err = await t.throwsAsync(runMigrations(db, dir), { instanceOf: MigrationError });
  t.regex(err!.message, /902_add_sku\.sql changed after it was applied/);
  await db.$pool.end();
});

test('npm run migrate: first admin created once, its password left alone; without ADMIN_* it says so', async (t) => {
  const { url, db } = await freshDatabase();
  const none = await cli(MIGRATE, { DATABASE_URL: url });
  t.is(none.code, 0, none.out);
  t.regex(none.out, /no admin created: set ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD/);

  const adminEnv = { DATABASE_URL: url, ADMIN_USERNAME: 'boss', ADMIN_EMAIL: 'boss@example.com', ADMIN_PASSWORD: 'first-password' };
  const first = await cli(MIGRATE, adminEnv);
  t.is(first.code, 0, first.out);
  t.regex(first.out, /admin \\"boss\\" created/);
  t.false(first.out.includes('first-password'));
  const hash = (await db.one<{ password_hash: string; role: string }>("SELECT password_hash, role FROM users WHERE username = 'boss'"));
  t.is(hash.role, 'admin');

  const again = await cli(MIGRATE, { ...adminEnv, ADMIN_PASSWORD: 'another-password' });
  t.is(again.code, 0, again.out);
  t.regex(again.out, /already exists \(password unchanged\)/);
  t.is((await db.one<{ password_hash: string }>("SELECT password_hash FROM users WHERE username = 'boss'")).password_hash, hash.password_hash);

  const bad = await cli(MIGRATE, { DATABASE_URL: url, ADMIN_USERNAME: 'boss' });
  t.is(bad.code, 1);
  t.regex(bad.out, /missing: ADMIN_EMAIL, ADMIN_PASSWORD/);
  await db.$pool.end();
});

test('npm run seed: ~50 products and the demo shopper, idempotent, refused in production', async (t) => {
  const { url, db } = await freshDatabase();
  t.is((await cli(MIGRATE, { DATABASE_URL: url })).code, 0);
  const first = await cli(SEED, { DATABASE_URL: url });
  t.is(first.code, 0, first.out);
  const count = async () => (await db.one<{ n: number }>('SELECT count(*)::int AS n FROM products')).n;
  t.is(await count(), 50);
  t.is((await cli(SEED, { DATABASE_URL: url })).code, 0);
  t.is(await count(), 50);
  t.is((await db.one<{ n: number }>('SELECT count(DISTINCT category_id)::int AS n FROM products')).n, 5);
  t.is((await db.any("SELECT 1 FROM users WHERE username = 'demo'")).length, 1);
  const prod = await cli(SEED, { DATABASE_URL: url, ENVIRONMENT: 'production' });
  t.is(prod.code, 1);
  t.regex(prod.out, /refusing to load sample data with ENVIRONMENT=production/);
  await db.$pool.end();
});
