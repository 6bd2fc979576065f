// shopctl end to end on a real Docker Engine, one stack for the whole file (tests run in
// order): first deploy, a rolling deploy and a rollback under >= 100 requests/s through
// nginx with zero failed requests, a version whose health check fails, two concurrent
// deploys, backup -> change -> restore, corrupted and truncated dumps, retention, and
// verify passing, then failing on a container started as root without limits.
// Everything it starts is removed at the end (by project label), also when a test fails.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import Docker from 'dockerode';
import { ComposeStack, REPO_ROOT, SERVICE_LABEL, PROJECT_LABEL, sleep } from './lib/stack.js';
import { everyClientSucceeded, runUnderLoad } from './lib/shopctl-load.js';
import { httpsJson } from './lib/http.js';
import { runShopctl, shopctlArgv, show, type Cli } from './lib/cli.js';

const BUSYBOX = process.env.BUSYBOX_IMAGE ?? 'busybox:1.37';
const docker = new Docker();

let stack: ComposeStack;
let envFile: string;
let stateDir: string;
let backupDir: string;
const v = { one: '', two: '', broken: '' };
const load = { token: '', productIds: [] as number[] };
const durations: Array<[string, number]> = [];

function log(line: string): void {
  console.log(`[shopctl e2e] ${line}`);
}

/** The environment shopctl runs with: what an operator's shell has (engine, image overrides). */
function cliEnv(of: ComposeStack = stack): Record<string, string> {
  const env = Object.fromEntries(Object.entries(of.env).filter(([k]) => k !== 'APP_VERSION'));
  return { ...env, NO_COLOR: '1' };
}

/** A development env file with the stack's settings (ports, passwords, folders), as `shopctl init` would write one. */
async function writeEnvFile(of: ComposeStack, path: string): Promise<void> {
  const lines = Object.entries(of.env)
    .filter(([k]) => !/^(PATH|HOME|USER|TMPDIR|LANG|APP_VERSION)$/.test(k) && !k.startsWith('DOCKER_'))
    .map(([k, val]) => `${k}=${val}`);
  await writeFile(path, `ENVIRONMENT=development\n${lines.join('\n')}\n`, { mode: 0o600 });
}

function cliArgs(args: string[]): string[] {
  return ['-C', REPO_ROOT, '-p', stack.project, '--env-file', envFile, '--state-dir', stateDir, ...args];
}

function shopctl(args: string[], timeoutMs = 600_000): Promise<Cli> {
  return runShopctl(cliArgs(args), cliEnv(), timeoutMs);
}

function api(path: string, opts: { method?: string; token?: string; body?: unknown } = {}): ReturnType<typeof httpsJson> {
  return httpsJson(stack.httpsPort, path, opts);
}

async function apiContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${PROJECT_LABEL}=${stack.project}`, `${SERVICE_LABEL}=api`, 'com.docker.compose.oneoff=False'] } });
}

async function psql(sql: string): Promise<string> {
  const r = await stack.exec('db', ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-U', stack.env.POSTGRES_USER ?? 'shop', '-d', stack.env.POSTGRES_DB ?? 'shop', '-c', sql], { user: 'postgres' });
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Row counts of the main tables and a checksum of every order row: what a restore must bring back. */
async function fingerprint(): Promise<string> {
  return psql(
    "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM products) || ' products, ' || (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM order_items) || ' order lines, orders md5 ' || (SELECT md5(coalesce(string_agg(o::text, '|' ORDER BY o.id), '')) FROM orders o)",
  );
}

function underLoad(label: string, action: () => Promise<Cli>, rate?: number): ReturnType<typeof runUnderLoad<Cli>> {
  return runUnderLoad({ port: stack.httpsPort, label, fixtures: load, action, log, rate });
}

let stackUp = false;

async function timed(t: ExecutionContext, fn: () => Promise<void>): Promise<void> {
  const started = Date.now();
  // Everything after the first deploy needs its stack: report that once, not nine times.
  if (!stackUp && !t.title.startsWith('first deploy')) {
    t.fail('skipped: the first deploy failed, so there is no stack to test');
    return;
  }
  try {
    await fn();
  } finally {
    durations.push([t.title, Date.now() - started]);
    log(`test "${t.title}" took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

test.before(async () => {
  stack = await ComposeStack.create({
    prefix: 'e2e-shopctl',
    env: {
      // The load test measures the deploy, not the rate limiters: both stay out of the way.
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_AUTH_PER_MINUTE: '0',
      PROXY_RATE_LIMIT: '5000r/s',
      PROXY_CONN_LIMIT: '5000',
      PROXY_AUTH_RATE_LIMIT: '600r/m',
    },
  });
  v.one = `${stack.project}-v1`;
  v.two = `${stack.project}-v2`;
  v.broken = `${stack.project}-broken`;
  stateDir = join(stack.scratchDir, 'state');
  backupDir = stack.env.BACKUP_DIR ?? join(stack.scratchDir, 'backups');
  await mkdir(join(backupDir, 'metrics'), { recursive: true });
  await mkdir(stack.env.TLS_CERT_DIR ?? join(stack.scratchDir, 'certs'), { recursive: true });
  envFile = join(stack.scratchDir, 'shop.env');
  await writeEnvFile(stack, envFile);
});

test.after.always(async () => {
  await stack?.destroy();
  for (const tag of [v.one, v.two, v.broken]) if (tag) await docker.getImage(`${stack.env.API_IMAGE ?? 'shop-api'}:${tag}`).remove().catch(() => undefined);
  log(`durations: ${durations.map(([n, ms]) => `${n}: ${(ms / 1000).toFixed(1)} s`).join('; ')}`);
});

test.serial('first deploy on an empty host builds, brings the stack up and records the release', async (t) => {
  await timed(t, async () => {
    const r = await shopctl(['deploy', 'development', v.one, '--build', '--replicas', '2', '--timeout', '240']);
    t.is(r.exitCode, 0, show(r));
    stackUp = r.exitCode === 0;
    log(`first deploy (build + stack up, 2 api replicas): ${(r.ms / 1000).toFixed(1)} s`);
    t.regex(r.stdout, new RegExp(`Deployed ${v.one} in .*first deploy, stack started`));
    const health = await shopctl(['health']);
    t.is(health.exitCode, 0, show(health));
    t.regex(health.stdout, /All services healthy\./);
    t.is((await apiContainers()).length, 2);
    const releases = JSON.parse((await shopctl(['--json', 'releases'])).stdout) as { current: { version: string; result: string; imageId: string } };
    t.like(releases.current, { version: v.one, result: 'success' });
    t.regex(releases.current.imageId, /^sha256:/);

    // Fixtures for the load: products with plenty of stock, and a shopper.
    const admin = await api('/auth/login', { method: 'POST', body: { username: stack.env.ADMIN_USERNAME ?? 'admin', password: stack.env.ADMIN_PASSWORD } });
    t.is(admin.status, 200, JSON.stringify(admin.json));
    // 16 products: orders spread over them as over a real catalogue, not queued on a few hot rows.
    for (let i = 0; i < 16; i += 1) {
      const p = await api('/products', { method: 'POST', token: admin.json.access_token, body: { name: `load ${stack.project} ${i}`, price: '2.50', stock: 1_000_000 } });
      t.is(p.status, 201);
      load.productIds.push(p.json.id ?? 0);
    }
    const user = `load_${stack.project.replace(/-/g, '_').slice(-12)}`;
    t.is((await api('/auth/register', { method: 'POST', body: { username: user, email: `${user}@example.com`, password: 'load-test-password' } })).status, 201);
    load.token = (await api('/auth/login', { method: 'POST', body: { username: user, password: 'load-test-password' } })).json.access_token ?? '';
    t.truthy(load.token);
  });
});

test.serial('a first deploy stopped by a failed one-shot names it, with its exit code and last log lines', async (t) => {
  await timed(t, async () => {
    // A project of its own on an empty host, whose certs/ holds a certificate without its key:
    // the `tls` one-shot exits 1 and Compose reports only "Container <id> exited with code 1".
    const other = await ComposeStack.create({ prefix: 'e2e-oneshot' });
    try {
      const certs = other.env.TLS_CERT_DIR ?? join(other.scratchDir, 'certs');
      await mkdir(certs, { recursive: true });
      await writeFile(join(certs, 'tls.crt'), 'not a certificate\n');
      const otherEnv = join(other.scratchDir, 'shop.env');
      await writeEnvFile(other, otherEnv);
      const r = await runShopctl(['-C', REPO_ROOT, '-p', other.project, '--env-file', otherEnv, '--state-dir', join(other.scratchDir, 'state'), 'deploy', 'development', v.one, '--local', '--timeout', '120'], cliEnv(other), 300_000);
      t.not(r.exitCode, 0, show(r));
      t.regex(r.stderr, /docker compose up failed/);
      // The service by name, its exit code and what it said.
      t.regex(r.stderr, new RegExp(`${other.project}[_-]tls[_-]1 \\([0-9a-f]{12}, image [^)]+\\) is exited\\nexit code 1`));
      t.regex(r.stderr, /tls: certs\/ needs both tls\.crt and tls\.key/);
    } finally {
      await other.destroy();
    }
  });
});

test.serial('deploy a new version under load: zero failed requests', async (t) => {
  await timed(t, async () => {
    const before = (await apiContainers()).map((c) => c.Id);
    // Built before the load, as CI builds before it deploys: the measurement is the rollout (the first deploy covers --build).
    const built = await stack.compose(['build', 'api'], { env: { APP_VERSION: v.two } });
    t.is(built.exitCode, 0, built.stderr);
    const { r, clients, slow } = await underLoad('deploy v1 -> v2', () => shopctl(['deploy', 'development', v.two, '--local']));
    t.is(r.exitCode, 0, show(r));
    everyClientSucceeded(t, clients, undefined, slow);
    const after = await apiContainers();
    t.is(after.length, 2);
    t.false(after.some((c) => before.includes(c.Id)), 'the old containers are gone');
    t.true(after.every((c) => c.Image.endsWith(`:${v.two}`)));
    t.is((await api('/health')).json.version, v.two);
  });
});

test.serial('a version whose health check fails: exit 5, the old version serves every request, no new container left', async (t) => {
  await timed(t, async () => {
    const image = `${stack.env.API_IMAGE ?? 'shop-api'}:`;
    // The v2 image with a health check that always fails (and says why).
    const build = await execa('docker', ['build', '-t', `${image}${v.broken}`, '-'], {
      input: `FROM ${image}${v.two}\nHEALTHCHECK --interval=1s --timeout=5s --start-period=1s --retries=2 CMD ["sh", "-c", "echo 'e2e: this version is broken on purpose' >&2; exit 1"]\n`,
      reject: false,
    });
    t.is(build.exitCode, 0, build.stderr);
    const before = (await apiContainers()).map((c) => c.Id).sort();
    const { r, clients, slow } = await underLoad('deploy of a failing version', () => shopctl(['deploy', 'development', v.broken, '--local', '--skip-migrations', '--timeout', '60']));
    t.is(r.exitCode, 5, show(r));
    t.regex(r.stderr, /became unhealthy/);
    t.regex(r.stderr, /health check output:[\s\S]*e2e: this version is broken on purpose/);
    t.regex(r.stderr, /last 20 log lines:/);
    t.regex(r.stderr, /previous version kept serving/);
    everyClientSucceeded(t, clients, undefined, slow);
    const after = await apiContainers();
    t.deepEqual(after.map((c) => c.Id).sort(), before);
    t.false(after.some((c) => c.Image.endsWith(v.broken)));
    t.is((await api('/health')).json.version, v.two);
    const releases = JSON.parse((await shopctl(['--json', 'releases'])).stdout) as { releases: Array<{ version: string; result: string }>; current: { version: string } };
    t.like(releases.releases[0], { version: v.broken, result: 'rolled_back' });
    t.is(releases.current.version, v.two);
  });
});

test.serial('rollback under load: zero failed requests, back on the previous version', async (t) => {
  await timed(t, async () => {
    const { r, clients, slow } = await underLoad('rollback v2 -> v1', () => shopctl(['rollback']));
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, new RegExp(`Rolled back development from ${v.two} to ${v.one}`));
    everyClientSucceeded(t, clients, undefined, slow);
    t.is((await api('/health')).json.version, v.one);
    t.true((await apiContainers()).every((c) => c.Image.endsWith(`:${v.one}`)));
  });
});

test.serial('two concurrent deploys: the second is refused, naming the first', async (t) => {
  await timed(t, async () => {
    const first = spawn(process.execPath, shopctlArgv(cliArgs(['deploy', 'development', v.two, '--local', '--skip-migrations'])), { env: cliEnv(), cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstErr = '';
    first.stderr.on('data', (c: Buffer) => (firstErr += c.toString()));
    const firstDone = new Promise<number>((resolve) => first.once('exit', (code) => resolve(code ?? -1)));
    const lockInfo = join(stateDir, 'deploy.lock', 'info.json');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (await stat(lockInfo).then(() => true, () => false)) break;
      await sleep(100);
    }
    const second = await shopctl(['deploy', 'development', v.one, '--local', '--skip-migrations']);
    t.is(second.exitCode, 4, show(second));
    t.regex(second.stderr, new RegExp(`Another deploy holds the lock: .+@.+ \\(pid ${first.pid}, deploy, ${v.two}\\) since \\d{4}-`));
    t.regex(second.stderr, /hint: .*--wait/);
    t.is(await firstDone, 0, firstErr);
    t.is((await api('/health')).json.version, v.two);
  });
});

test.serial('backup -> change data -> restore: data equal to the backup; bad dumps refused before anything is touched', async (t) => {
  await timed(t, async () => {
    const b = await shopctl(['--json', 'backup', '--with-redis']);
    t.is(b.exitCode, 0, show(b));
    const doc = JSON.parse(b.stdout) as { backup: { path: string; file: string; sha256: string; sizeBytes: number; rowCounts: Record<string, number>; tocEntries: number; redis: { file: string } } };
    const atBackup = await fingerprint();
    log(`backup ${doc.backup.file}: ${doc.backup.sizeBytes} bytes, ${doc.backup.tocEntries} TOC entries; ${atBackup}`);
    t.is(doc.backup.rowCounts.orders, Number(/(\d+) orders/.exec(atBackup)?.[1]));
    const files = await readdir(backupDir);
    for (const f of [doc.backup.file, `${doc.backup.file}.sha256`, doc.backup.file.replace(/\.dump$/, '.json'), doc.backup.redis.file, `${doc.backup.redis.file}.sha256`]) t.true(files.includes(f), f);
    t.false(files.some((f) => f.endsWith('.partial')));
    const sha = await execa('sha256sum', ['-c', `${doc.backup.file}.sha256`, `${doc.backup.redis.file}.sha256`], { cwd: backupDir, reject: false });
    t.is(sha.exitCode, 0, sha.stdout);
    t.is((await stat(doc.backup.path)).mode & 0o777, 0o600);
    t.regex(await readFile(join(backupDir, 'metrics', 'backup.prom'), 'utf8'), new RegExp(`shopctl_backup_last_size_bytes ${doc.backup.sizeBytes}\\n`));

    // Change the data: an order through the API, rows deleted and stock changed by SQL.
    const order = await api('/orders', { method: 'POST', token: load.token, body: { items: [{ product_id: load.productIds[0], quantity: 3 }] } });
    t.is(order.status, 201);
    await psql('DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 5); UPDATE products SET stock = stock + 1 WHERE id IN (SELECT id FROM products ORDER BY id LIMIT 3)');
    const changed = await fingerprint();
    t.not(changed, atBackup);

    // Refused before anything is touched: a flipped byte (checksum) and a truncated file with a matching checksum.
    const apiStartedAt = (await stack.inspect('api')).map((c) => c.State.StartedAt).sort();
    const dumpsBefore = (await readdir(backupDir)).filter((f) => f.endsWith('.dump')).length;
    const corrupt = join(stack.scratchDir, 'corrupt.dump');
    await copyFile(doc.backup.path, corrupt);
    const bytes = await readFile(corrupt);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    await writeFile(corrupt, bytes);
    await writeFile(`${corrupt}.sha256`, `${doc.backup.sha256}  corrupt.dump\n`);
    const c = await shopctl(['restore', corrupt, '--yes']);
    t.is(c.exitCode, 8, show(c));
    t.regex(c.stderr, /Checksum mismatch for corrupt\.dump/);
    const truncated = join(stack.scratchDir, 'truncated.dump');
    await copyFile(doc.backup.path, truncated);
    await truncate(truncated, Math.floor(doc.backup.sizeBytes * 0.6));
    const sum = (await execa('sha256sum', ['truncated.dump'], { cwd: stack.scratchDir })).stdout;
    await writeFile(`${truncated}.sha256`, `${sum}\n`);
    const tr = await shopctl(['restore', truncated, '--yes']);
    t.is(tr.exitCode, 8, show(tr));
    t.regex(tr.stderr, /pg_restore cannot read (all|the table of contents) of .*truncated\.dump/);
    t.is(await fingerprint(), changed, 'refused restores changed nothing');
    t.deepEqual((await stack.inspect('api')).map((x) => x.State.StartedAt).sort(), apiStartedAt, 'the API was not stopped');
    t.is((await readdir(backupDir)).filter((f) => f.endsWith('.dump')).length, dumpsBefore, 'no safety backup was taken');

    // Without a TTY and without --yes: refused.
    const noYes = await shopctl(['restore', doc.backup.file]);
    t.is(noYes.exitCode, 10, show(noYes));

    const r = await shopctl(['restore', doc.backup.file, '--yes']);
    t.is(r.exitCode, 0, show(r));
    log(`restore took ${(r.ms / 1000).toFixed(1)} s`);
    t.regex(r.stdout, /safety backup of the previous data: .*\.dump/);
    t.is(await fingerprint(), atBackup);
    t.is((await shopctl(['health'])).exitCode, 0);
    t.is((await api('/health')).status, 200);
  });
});

test.serial('retention keeps exactly what the flags say, sidecars included', async (t) => {
  await timed(t, async () => {
    // A real dump copied to 59 past dates (every day of January and February 2025 at 03:00 UTC).
    const source = (await readdir(backupDir)).find((f) => f.endsWith('.dump'));
    t.truthy(source);
    const db = stack.env.POSTGRES_DB ?? 'shop';
    for (let day = new Date(Date.UTC(2025, 0, 1, 3)); day < new Date(Date.UTC(2025, 2, 1)); day = new Date(day.getTime() + 86_400_000)) {
      const stem = `${db}-${day.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
      await copyFile(join(backupDir, source!), join(backupDir, `${stem}.dump`));
      await writeFile(join(backupDir, `${stem}.dump.sha256`), 'x');
      await writeFile(join(backupDir, `${stem}.json`), '{}');
    }
    await writeFile(join(backupDir, 'notes.txt'), 'not a backup: never touched');
    const r = await shopctl(['backup', '--keep-daily', '3', '--keep-weekly', '3', '--keep-monthly', '3']);
    t.is(r.exitCode, 0, show(r));
    const left = (await readdir(backupDir)).filter((f) => f !== 'metrics').sort();
    const dumps = left.filter((f) => f.endsWith('.dump'));
    // Today's new backup fills one slot of each tier; the rest come from 2025:
    // daily: 02-28, 02-27; weekly: 2025-W09 -> 02-28, 2025-W08 -> 02-23; monthly: 2025-02 -> 02-28, 2025-01 -> 01-31.
    const expected2025 = ['20250131T030000Z', '20250223T030000Z', '20250227T030000Z', '20250228T030000Z'].map((ts) => `${db}-${ts}.dump`);
    t.deepEqual(dumps.filter((f) => f.includes('-2025')), expected2025);
    t.is(dumps.length, 5, dumps.join(', '));
    const newest = dumps.find((f) => !f.includes('-2025'));
    t.truthy(newest && r.stdout.includes(newest));
    // Every kept set still has its sidecars; removed sets left nothing behind.
    for (const d of dumps) t.true(left.includes(`${d}.sha256`) && left.includes(d.replace(/\.dump$/, '.json')), d);
    t.is(left.filter((f) => f.includes('-2025')).length, 4 * 3);
    t.true(left.includes('notes.txt'));
    t.regex(r.stdout, /retention: kept 5, removed \d+/);
  });
});

test.serial('verify passes on the stack and writes JUnit', async (t) => {
  await timed(t, async () => {
    const junit = join(stack.scratchDir, 'verify.xml');
    const r = await shopctl(['verify', '--junit', junit]);
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /PASSED: \d+ passed/);
    for (const id of ['stack.services-healthy', 'http.openapi', 'tls.http2', 'headers.csp', 'journey.order', 'journey.cleanup', 'hardening.proxy.published-ports']) t.regex(r.stdout, new RegExp(`${id.replace(/\./g, '\\.')}\\s+PASS`), id);
    const xml = await readFile(junit, 'utf8');
    t.regex(xml, /<testsuites name="shopctl verify" tests="\d+" failures="0"/);
  });
});

test.serial('verify fails, naming the checks, on a service started as root without limits', async (t) => {
  await timed(t, async () => {
    const rogue = await docker.createContainer({
      Image: BUSYBOX,
      Cmd: ['sleep', '600'],
      Labels: { [PROJECT_LABEL]: stack.project, [SERVICE_LABEL]: 'rogue', 'com.docker.compose.oneoff': 'False', 'com.docker.compose.container-number': '1' },
    });
    t.teardown(() => rogue.remove({ force: true }).catch(() => undefined));
    await rogue.start();
    const junit = join(stack.scratchDir, 'verify-rogue.xml');
    const r = await shopctl(['verify', '--skip-journey', '--junit', junit]);
    t.is(r.exitCode, 7, show(r));
    for (const id of ['non-root', 'memory-limit', 'cpu-limit', 'pids-limit', 'read-only', 'cap-drop', 'no-new-privileges', 'healthcheck']) {
      t.regex(r.stdout, new RegExp(`hardening\\.rogue\\.${id}\\s+FAIL`), id);
    }
    t.regex(r.stdout, /FAILED: \d+ check\(s\): .*hardening\.rogue\.non-root/);
    t.regex(r.stdout, /hardening\.api-\d+\.non-root\s+PASS/);
    t.regex(await readFile(junit, 'utf8'), /<testcase classname="shopctl\.verify\.hardening\.rogue" name="hardening\.rogue\.memory-limit" time="[\d.]+">\s*<failure message="no memory limit/);
  });
});
