// Point-in-time recovery end to end on a real Docker Engine, one stack for the whole file (tests
// run in order): WAL archiving and a base backup proven by pg_verifybackup; backup verify; a
// DELETE undone with --to-time; a WAL segment missing from the middle of the archive refused by
// --dry-run and by the restore with the gap named, the stack untouched; a lost data volume under
// >= 20 orders/s brought back by restore --latest, with the recovery point and the restore time
// measured; off-host copies (encrypted upload to s3rver on localhost, no plaintext there, local
// base backups and WAL deleted, restore --latest fetching them, a wrong key refused with exit 8);
// and a base backup truncated by one byte failing verify with exit 8.
import test, { type ExecutionContext } from 'ava';
import https from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import S3rver from 's3rver';
import { mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ComposeStack, REPO_ROOT, sleep } from './lib/stack.js';
import { httpsJson } from './lib/http.js';
import { runShopctl, show, writeShopctlEnvFile, type Cli } from './lib/cli.js';

const docker = new Docker();
const ARCHIVE_TIMEOUT_S = 30;
let stack: ComposeStack;
let envFile: string;
let stateDir: string;
let backupDir: string;
let version = '';
let stackUp = false;
const shopper = { token: '', email: '', productIds: [] as number[] };
const INITIAL_STOCK = 1_000_000;

function log(line: string): void {
  console.log(`[pitr e2e] ${line}`);
}

function shopctl(args: string[], timeoutMs = 600_000, extraEnv: Record<string, string> = {}): Promise<Cli> {
  const env = { ...Object.fromEntries(Object.entries(stack.env).filter(([k]) => k !== 'APP_VERSION')), NO_COLOR: '1', ...extraEnv };
  return runShopctl(['-C', REPO_ROOT, '-p', stack.project, '--env-file', envFile, '--state-dir', stateDir, '--backup-dir', backupDir, ...args], env, timeoutMs);
}

function api(path: string, opts: { method?: string; token?: string; body?: unknown } = {}): ReturnType<typeof httpsJson> {
  return httpsJson(stack.httpsPort, path, opts);
}

async function psql(sql: string): Promise<string> {
  const r = await stack.exec('db', ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-U', stack.env.POSTGRES_USER ?? 'shop', '-d', stack.env.POSTGRES_DB ?? 'shop', '-c', sql], { user: 'postgres' });
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function dbContainer(): Promise<Docker.ContainerInspectInfo> {
  return stack.container('db');
}

/** Archives the current WAL segment now instead of after archive_timeout, and waits until it is in the archive. */
async function switchWal(): Promise<void> {
  const before = Number(await psql('SELECT archived_count FROM pg_stat_archiver'));
  await psql('SELECT pg_switch_wal()');
  for (let i = 0; i < 100 && Number(await psql('SELECT archived_count FROM pg_stat_archiver')) <= before; i += 1) await sleep(100);
}

async function placeOrder(productId: number, quantity = 1): Promise<{ status: number; id: number }> {
  const r = await api('/orders', { method: 'POST', token: shopper.token, body: { items: [{ product_id: productId, quantity }] } });
  return { status: r.status, id: Number((r.json as { id?: number }).id ?? 0) };
}

async function timed(t: ExecutionContext, fn: () => Promise<void>): Promise<void> {
  if (!stackUp && !t.title.startsWith('WAL archiving')) {
    t.fail('skipped: the stack did not come up');
    return;
  }
  const started = Date.now();
  try {
    await fn();
  } finally {
    log(`test "${t.title}" took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

test.before(async () => {
  stack = await ComposeStack.create({
    prefix: 'e2e-pitr',
    env: {
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_AUTH_PER_MINUTE: '0',
      PROXY_RATE_LIMIT: '5000r/s',
      PROXY_AUTH_RATE_LIMIT: '600r/m',
      POSTGRES_ARCHIVE_TIMEOUT: `${ARCHIVE_TIMEOUT_S}s`,
    },
  });
  version = `${stack.project}-v1`;
  stateDir = join(stack.scratchDir, 'state');
  backupDir = stack.env.BACKUP_DIR ?? join(stack.scratchDir, 'backups');
  await mkdir(join(backupDir, 'metrics'), { recursive: true });
  await mkdir(stack.env.TLS_CERT_DIR ?? join(stack.scratchDir, 'certs'), { recursive: true });
  envFile = join(stack.scratchDir, 'shop.env');
  await writeShopctlEnvFile(envFile, stack.env);
});

test.after.always(async () => {
  // Volumes a restore kept and any sandbox left by a failed run carry shopctl's project label.
  const label = [`shopctl.project=${stack.project}`];
  for (const c of await docker.listContainers({ all: true, filters: { label } }).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await stack?.destroy();
  for (const v of (await docker.listVolumes({ filters: { label } }).catch(() => ({ Volumes: [] }))).Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
  await docker.getImage(`${stack.env.API_IMAGE ?? 'shop-api'}:${version}`).remove().catch(() => undefined);
});

test.serial('WAL archiving and a base backup proven by pg_verifybackup', async (t) => {
  await timed(t, async () => {
    const deploy = await shopctl(['deploy', 'development', version, '--build', '--timeout', '240']);
    t.is(deploy.exitCode, 0, show(deploy));
    stackUp = deploy.exitCode === 0;
    if (!stackUp) return;
    const admin = await api('/auth/login', { method: 'POST', body: { username: stack.env.ADMIN_USERNAME ?? 'admin', password: stack.env.ADMIN_PASSWORD } });
    for (let i = 0; i < 4; i += 1) {
      const p = await api('/products', { method: 'POST', token: admin.json.access_token, body: { name: `pitr ${i}`, price: '3.00', stock: INITIAL_STOCK } });
      t.is(p.status, 201);
      shopper.productIds.push(p.json.id ?? 0);
    }
    const user = `pitr_${stack.project.slice(-8)}`;
    shopper.email = `${user}@example.com`;
    t.is((await api('/auth/register', { method: 'POST', body: { username: user, email: `${user}@example.com`, password: 'pitr-test-password' } })).status, 201);
    shopper.token = (await api('/auth/login', { method: 'POST', body: { username: user, password: 'pitr-test-password' } })).json.access_token ?? '';

    t.is(await psql('SHOW archive_mode'), 'on');
    t.is(await psql('SHOW archive_timeout'), `${ARCHIVE_TIMEOUT_S}s`);
    const b = await shopctl(['--json', 'backup', '--physical']);
    t.is(b.exitCode, 0, show(b));
    const meta = (JSON.parse(b.stdout) as { backup: { file: string; verified: string; startWal: string } }).backup;
    t.regex(meta.verified, /successfully verified/);
    const files = await readdir(join(backupDir, 'base'));
    const stem = meta.file.replace(/\.tar$/, '');
    for (const ext of ['.tar', '.tar.sha256', '.backup_manifest', '.json']) t.true(files.includes(`${stem}${ext}`), `${stem}${ext}`);
    const archiver = (await psql('SELECT archived_count, failed_count FROM pg_stat_archiver')).split('|').map(Number);
    t.true((archiver[0] ?? 0) > 0, 'segments archived');
    t.is(archiver[1], 0, 'no failed archive attempt');
    t.regex(await readFile(join(backupDir, 'metrics', 'backup.prom'), 'utf8'), /shopctl_base_backup_last_success_timestamp_seconds \d+/);

    // The archive command never overwrites a segment of the same name with different content.
    const clash = await stack.exec('db', ['sh', '/etc/postgresql/archive-wal.sh', '/etc/postgresql/postgresql.conf', meta.startWal], { user: 'postgres' });
    t.is(clash.exitCode, 1);
    t.regex(clash.stderr, /already exists with different content; refusing to overwrite/);
  });
});

test.serial('backup verify restores the newest base backup in a throwaway container and passes', async (t) => {
  await timed(t, async () => {
    const r = await shopctl(['backup', 'verify']);
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /Verified .*throwaway container removed/);
    t.regex(r.stdout, /ok {3}pg_verifybackup/);
    t.regex(r.stdout, /ok {3}an order with its lines|no orders in this backup/);
    t.regex(await readFile(join(backupDir, 'metrics', 'backup.prom'), 'utf8'), /shopctl_backup_last_verified_timestamp_seconds \d+/);
    const left = await docker.listContainers({ all: true, filters: { label: [`shopctl.project=${stack.project}`] } });
    t.is(left.length, 0, 'no throwaway container left');
  });
});

test.serial('a DELETE undone: restore --to-time brings back everything before it and nothing after, the old volume kept', async (t) => {
  await timed(t, async () => {
    const markers: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const o = await placeOrder(shopper.productIds[0] ?? 1);
      t.is(o.status, 201);
      markers.push(o.id);
    }
    const linesBefore = Number(await psql('SELECT count(*) FROM order_items'));
    await sleep(1500);
    const t2 = new Date();
    await sleep(1000);
    await psql('DELETE FROM order_items');
    const after = await placeOrder(shopper.productIds[1] ?? 1);
    t.is(after.status, 201);
    await switchWal();
    const target = new Date(t2.getTime() - 1000).toISOString();
    const dry = await shopctl(['restore', '--to-time', target, '--dry-run']);
    t.is(dry.exitCode, 0, show(dry));
    t.regex(dry.stdout, /base backup .*\nWAL .*\nreachable .*\ntarget .*/);
    const r = await shopctl(['restore', '--to-time', target, '--yes']);
    t.is(r.exitCode, 0, show(r));
    log(`restore --to-time took ${(r.ms / 1000).toFixed(1)} s`);
    t.is(Number(await psql('SELECT count(*) FROM order_items')), linesBefore, 'every order line from before the DELETE is back');
    t.is(Number(await psql(`SELECT count(*) FROM orders WHERE id IN (${markers.join(',')})`)), 3, 'the marker orders are there');
    t.is(Number(await psql(`SELECT count(*) FROM orders WHERE id = ${after.id}`)), 0, 'the order placed after T2 is not');
    t.is((await api('/health/ready')).status, 200);
    const kept = await docker.listVolumes({ filters: { label: ['shopctl.kept', `shopctl.project=${stack.project}`] } });
    t.is(kept.Volumes?.length, 1, 'the volume from before the restore is kept');
    t.regex(r.stdout, /new base backup on the new timeline: \S+/);
  });
});

test.serial('a WAL segment missing from the middle of the archive: dry-run and restore refuse with the gap named, the stack untouched', async (t) => {
  await timed(t, async () => {
    for (let i = 0; i < 3; i += 1) {
      t.is((await placeOrder(shopper.productIds[2] ?? 1)).status, 201);
      await switchWal();
    }
    const listing = (await stack.exec('db', ['ls', '-1', '/var/lib/postgresql/wal-archive'], { user: 'postgres' })).stdout.split('\n').filter((n) => /^[0-9A-F]{24}$/.test(n));
    const missing = listing.at(-2) ?? '';
    t.truthy(missing);
    const aside = `/var/lib/postgresql/.${missing}.aside`;
    t.is((await stack.exec('db', ['mv', `/var/lib/postgresql/wal-archive/${missing}`, aside], { user: 'postgres' })).exitCode, 0);
    const before = await dbContainer();
    try {
      const dry = await shopctl(['restore', '--latest', '--dry-run']);
      t.is(dry.exitCode, 8, show(dry));
      t.regex(dry.stderr, new RegExp(`WAL gap: segment ${missing} is missing`));
      t.regex(dry.stderr, /latest reachable time is \d{4}-/);
      const r = await shopctl(['restore', '--latest', '--yes']);
      t.is(r.exitCode, 8, show(r));
      t.regex(r.stderr, new RegExp(`WAL gap: segment ${missing} is missing`));
      const now = await dbContainer();
      t.is(now.Id, before.Id);
      t.is(now.State.StartedAt, before.State.StartedAt, 'the database was not restarted');
      t.is((await api('/health/ready')).status, 200);
    } finally {
      await stack.exec('db', ['mv', aside, `/var/lib/postgresql/wal-archive/${missing}`], { user: 'postgres' });
    }
  });
});

interface Ack {
  id: number;
  productId: number;
  at: number;
}

/** Orders at `rate`/s, open model, each acknowledged 201 recorded with its time. */
function orderLoad(rate: number): { stop: () => Promise<{ acks: Ack[]; sent: number; failed: number }> } {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
  const acks: Ack[] = [];
  let sent = 0;
  let failed = 0;
  const pending = new Set<Promise<void>>();
  const one = (productId: number) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({ items: [{ product_id: productId, quantity: 1 }] });
      const req = https.request(
        { host: '127.0.0.1', port: stack.httpsPort, path: '/orders', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper.token}`, 'idempotency-key': randomUUID() } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 201) acks.push({ id: Number((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: number }).id), productId, at: Date.now() });
            else failed += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed += 1;
        resolve();
      });
      req.end(body);
    });
  let credit = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    credit += (rate * (now - last)) / 1000;
    last = now;
    while (credit >= 1) {
      credit -= 1;
      const p = one(shopper.productIds[sent % shopper.productIds.length] ?? 1);
      sent += 1;
      pending.add(p);
      void p.then(() => pending.delete(p));
    }
  }, 10);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      agent.destroy();
      return { acks, sent, failed };
    },
  };
}

test.serial('a lost data volume under 25 orders/s: restore --latest brings back every order acknowledged more than 60 s before the loss', async (t) => {
  await timed(t, async () => {
    const load = orderLoad(25);
    await sleep(75_000);
    // The disk is lost while orders keep coming: the db container and its volume are gone.
    const db = await dbContainer();
    const lossAt = Date.now();
    await docker.getContainer(db.Id).remove({ force: true });
    const report = await load.stop();
    const volume = `${stack.project}_db-data`;
    await docker.getVolume(volume).remove();
    const acked = report.acks.filter((a) => a.at < lossAt);
    log(`orders: ${report.sent} sent over ${((lossAt - (report.acks[0]?.at ?? lossAt)) / 1000).toFixed(0)} s, ${acked.length} acknowledged before the loss, ${report.failed} failed (after the loss)`);
    t.true(acked.length / 75 >= 20, `only ${(acked.length / 75).toFixed(1)} orders/s acknowledged`);

    const r = await shopctl(['restore', '--latest', '--yes', '--no-base-backup']);
    t.is(r.exitCode, 0, show(r));
    const ids = new Set((await psql(`SELECT id FROM orders WHERE id IN (${acked.map((a) => a.id).join(',')})`)).split('\n').filter(Boolean).map(Number));
    const lastAck = acked.at(-1);
    const lastRecovered = acked.filter((a) => ids.has(a.id)).at(-1);
    const rpo = lastAck && lastRecovered ? (lastAck.at - lastRecovered.at) / 1000 : NaN;
    log(`RECOVERY POINT: last acknowledged order ${lastAck?.id} at -${((lossAt - (lastAck?.at ?? lossAt)) / 1000).toFixed(1)} s, latest recovered ${lastRecovered?.id}: ${rpo.toFixed(1)} s of orders lost (${acked.length - ids.size} orders; archive_timeout ${ARCHIVE_TIMEOUT_S} s)`);
    log(`RESTORE TIME: shopctl restore --latest took ${(r.ms / 1000).toFixed(1)} s from the command to a healthy API`);
    const older = acked.filter((a) => a.at < lossAt - 60_000);
    const lost = older.filter((a) => !ids.has(a.id));
    t.is(lost.length, 0, `orders acknowledged > 60 s before the loss and missing: ${lost.slice(0, 10).map((a) => a.id).join(', ')}`);
    const withoutLines = Number(await psql(`SELECT count(*) FROM orders o WHERE o.id IN (${older.map((a) => a.id).join(',')}) AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)`));
    t.is(withoutLines, 0, 'every recovered order has its lines');
    for (const productId of shopper.productIds) {
      const [stock, taken] = (await psql(`SELECT p.stock, coalesce((SELECT sum(quantity) FROM order_items WHERE product_id = p.id), 0) FROM products p WHERE p.id = ${productId}`)).split('|').map(Number);
      t.is(stock, INITIAL_STOCK - (taken ?? 0), `product ${productId}: stock = initial - what the restored orders took`);
    }
    t.is((await api('/health/ready')).status, 200);
    t.true(rpo <= ARCHIVE_TIMEOUT_S + 5, `recovery point ${rpo} s`);
  });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) out.push(...(e.isDirectory() ? await filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
  return out;
}

test.serial('off-host: upload encrypted to an S3-compatible store (no plaintext there); with the local backups and WAL gone, restore --latest fetches them', async (t) => {
  await timed(t, async () => {
    const s3dir = join(stack.scratchDir, 's3');
    await mkdir(s3dir, { recursive: true });
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: 'offsite', configs: [] }] });
    const { port } = (await server.run()) as { port: number };
    try {
      const keyFile = join(stack.scratchDir, 'backup.key');
      await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      const s3 = { BACKUP_S3_BUCKET: 'offsite', BACKUP_S3_PREFIX: 'shop', BACKUP_S3_ENDPOINT: `http://127.0.0.1:${port}`, BACKUP_S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', BACKUP_ENCRYPTION_KEY_FILE: keyFile };
      const b = await shopctl(['--json', 'backup', '--physical', '--upload'], 600_000, s3);
      t.is(b.exitCode, 0, show(b));
      const up = (JSON.parse(b.stdout) as { upload: { base: string[]; wal: number } }).upload;
      t.is(up.base.length >= 1, true);
      t.true(up.wal > 0);
      // An order after the upload: its WAL goes up with `backup upload` (the frequent cron line).
      const marker = await placeOrder(shopper.productIds[3] ?? 1);
      t.is(marker.status, 201);
      await switchWal();
      const u = await shopctl(['backup', 'upload'], 600_000, s3);
      t.is(u.exitCode, 0, show(u));
      t.regex(u.stdout, /uploaded \(encrypted\): [1-9]\d* object/);

      for (const f of await filesUnder(s3dir)) {
        const bytes = await readFile(f);
        t.false(bytes.includes('CREATE TABLE'), `${f}: CREATE TABLE in the store`);
        t.false(bytes.includes(shopper.email), `${f}: a customer's e-mail address in the store`);
      }

      // The local copies are lost: base backups, dumps, and every WAL segment in the archive.
      for (const f of await readdir(join(backupDir, 'base'))) await rm(join(backupDir, 'base', f), { force: true });
      t.is((await stack.exec('db', ['sh', '-c', 'find /var/lib/postgresql/wal-archive -type f ! -name "*.history" -delete'], { user: 'postgres' })).exitCode, 0);
      const r = await shopctl(['--json', 'restore', '--latest', '--yes', '--no-base-backup'], 600_000, s3);
      t.is(r.exitCode, 0, show(r));
      const fetched = (JSON.parse(r.stdout) as { plan: { fetched: { base: string | null; wal: number } } }).plan.fetched;
      t.truthy(fetched.base, 'the base backup came from the store');
      t.true(fetched.wal > 0, 'WAL came from the store');
      t.is(Number(await psql(`SELECT count(*) FROM orders WHERE id = ${marker.id}`)), 1, 'the order placed after the base backup is back');
      t.is((await api('/health/ready')).status, 200);

      // The wrong key: refused as an authentication failure, exit 8.
      for (const f of await readdir(join(backupDir, 'base'))) await rm(join(backupDir, 'base', f), { force: true });
      const wrongKey = join(stack.scratchDir, 'wrong.key');
      await writeFile(wrongKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      const wrong = await shopctl(['restore', '--latest', '--dry-run'], 600_000, { ...s3, BACKUP_ENCRYPTION_KEY_FILE: wrongKey });
      t.is(wrong.exitCode, 8, show(wrong));
      t.regex(wrong.stderr, /Authentication failed .* encrypted with another key/);
    } finally {
      await server.close();
    }
  });
});

test.serial('backup verify fails with exit 8 on a base backup truncated by one byte (its manifest left as it was)', async (t) => {
  await timed(t, async () => {
    const b = await shopctl(['--json', 'backup', '--physical']);
    t.is(b.exitCode, 0, show(b));
    const file = (JSON.parse(b.stdout) as { backup: { path: string } }).backup.path;
    await truncate(file, (await stat(file)).size - 1);
    const r = await shopctl(['backup', 'verify']);
    t.is(r.exitCode, 8, show(r));
    t.regex(r.stderr, /Checksum mismatch for .*\.tar: the base backup is corrupted or truncated/);
    const left = await docker.listContainers({ all: true, filters: { label: [`shopctl.project=${stack.project}`] } });
    t.is(left.length, 0, 'no throwaway container left');
  });
});
