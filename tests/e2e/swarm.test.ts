// shopctl --orchestrator swarm end to end, on a one-node swarm made for the test
// (`docker swarm init --advertise-addr 127.0.0.1`, left afterwards; an engine already in
// swarm mode is used as it is and left in it). docker-compose.production.yml deploys
// unchanged as a stack of a scratch project (`shopctl init --env production`): a missing
// node label is refused at preflight; the first deploy starts 3 API replicas; a new version
// rolls out under >= 100 requests/s with zero failed requests; a version whose health check
// fails is rolled back by swarm itself while every request succeeds, and shopctl exits 5;
// shopctl rollback; backup, restore, verify, status and health against the swarm.
// Everything it made is removed at the end by the stack's label (services, containers,
// secrets, networks, volumes), the node labels it added and its image tags, also on failure.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import Docker from 'dockerode';
import { REPO_ROOT, freePort, sleep } from './lib/stack.js';
import { everyClientSucceeded, runUnderLoad } from './lib/shopctl-load.js';
import { httpsJson } from './lib/http.js';
import { runShopctl, show, type Cli } from './lib/cli.js';

const STACK = `e2e-swarm-${randomBytes(4).toString('hex')}`;
const STACK_LABEL = 'com.docker.stack.namespace';
const NODE_LABELS = ['shop.data', 'shop.monitoring', 'shop.edge'];
const API_IMAGE = 'shop-api';
const docker = new Docker();

const v = { one: `${STACK}-v1`, two: `${STACK}-v2`, broken: `${STACK}-broken` };
const scratch = join(process.env.TMPDIR ?? '/tmp', `shop-${STACK}`);
const files = ['docker-compose.production.yml'];
const ports = { http: 0, https: 0 };
const load = { token: '', productIds: [] as number[] };
const durations: Array<[string, number]> = [];
const setup = { ownSwarm: false, nodeId: '', labelsAdded: [] as string[], adminPassword: '', ok: false };

function log(line: string): void {
  console.log(`[swarm e2e] ${line}`);
}

/** What an operator's shell passes on: the engine and the image overrides (never APP_VERSION: shopctl sets it). */
function cliEnv(): Record<string, string> {
  const passed = Object.entries(process.env).filter((e): e is [string, string] => /^(PATH|HOME|USER|TMPDIR|LANG|DOCKER_[A-Z_]+|[A-Z0-9_]+_IMAGE)$/.test(e[0]) && e[1] !== undefined && e[0] !== 'API_IMAGE');
  return { ...Object.fromEntries(passed), NO_COLOR: '1' };
}

function shopctl(args: string[], timeoutMs = 900_000): Promise<Cli> {
  return runShopctl(['-C', scratch, '-p', STACK, '--orchestrator', 'swarm', ...files.flatMap((f) => ['-f', f]), ...args], cliEnv(), timeoutMs);
}

function api(path: string, opts: { method?: string; token?: string; body?: unknown } = {}): ReturnType<typeof httpsJson> {
  return httpsJson(ports.https, path, opts);
}

/** The stack's api tasks meant to run, with their image (GET /tasks). */
async function apiTasks(): Promise<Array<{ image: string; state: string }>> {
  const tasks = (await docker.listTasks({ filters: { service: [`${STACK}_api`], 'desired-state': ['running'] } })) as Array<{ Spec?: { ContainerSpec?: { Image?: string } }; Status?: { State?: string } }>;
  return tasks.map((t) => ({ image: (t.Spec?.ContainerSpec?.Image ?? '').split('@')[0] ?? '', state: t.Status?.State ?? '' }));
}

async function containerOf(service: string): Promise<string> {
  const list = await docker.listContainers({ filters: { label: [`${STACK_LABEL}=${STACK}`, `com.docker.swarm.service.name=${STACK}_${service}`] } });
  const id = list[0]?.Id;
  if (!id) throw new Error(`no running ${service} task on this node`);
  return id;
}

async function psql(sql: string): Promise<string> {
  const r = await execa('docker', ['exec', '-u', 'postgres', await containerOf('db'), 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-U', 'shop', '-d', 'shop', '-c', sql], { reject: false });
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function fingerprint(): Promise<string> {
  return psql("SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM products) || ' products, ' || (SELECT count(*) FROM orders) || ' orders, orders md5 ' || (SELECT md5(coalesce(string_agg(o::text, '|' ORDER BY o.id), '')) FROM orders o)");
}

// 52 requests/s per client kind (h2, h1 keep-alive, h1 new connection), as the Compose suite.
// It was 35 while the API's health probe was `node -e` (~0.1 s of CPU each, every 3 s in each
// of 3 replicas): on a saturated 2-core machine probes timed out and swarm rolled a healthy
// update back. config/api/healthcheck.sh now probes with wget or bash.
const SWARM_RATE_PER_CLIENT = 52;
function underLoad(label: string, action: () => Promise<Cli>, rate = SWARM_RATE_PER_CLIENT * 3): ReturnType<typeof runUnderLoad<Cli>> {
  return runUnderLoad({ port: ports.https, label, fixtures: load, action, log, rate });
}

async function timed(t: ExecutionContext, needsStack: boolean, fn: () => Promise<void>): Promise<void> {
  const started = Date.now();
  if (needsStack && !setup.ok) {
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

async function imageAvailable(image: string): Promise<boolean> {
  if ((await execa('docker', ['image', 'inspect', image], { reject: false })).exitCode === 0) return true;
  return (await execa('docker', ['pull', image], { reject: false, timeout: 120_000 })).exitCode === 0;
}

async function setEnv(values: Record<string, string>): Promise<void> {
  const path = join(scratch, '.env');
  let text = await readFile(path, 'utf8');
  for (const [k, val] of Object.entries(values)) {
    const line = `${k}=${val}`;
    text = new RegExp(`^${k}=.*$`, 'm').test(text) ? text.replace(new RegExp(`^${k}=.*$`, 'm'), line) : `${text.trimEnd()}\n${line}\n`;
  }
  await writeFile(path, text, { mode: 0o600 });
}

/** Removes what the test made, by the stack's label; synchronous so that it also runs on process exit. */
function cleanupSync(): void {
  const run = (args: string[]) => {
    try {
      return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 120_000 }).split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const filter = `label=${STACK_LABEL}=${STACK}`;
  const services = run(['service', 'ls', '-q', '--filter', filter]);
  if (services.length) run(['service', 'rm', ...services]);
  // Task containers go away with their services; networks only once they have.
  for (let i = 0; i < 60 && run(['ps', '-aq', '--filter', filter]).length > 0; i += 1) execFileSync('sleep', ['1']);
  // The migration job's containers carry no stack label (never taken for a replica): by service name.
  const containers = [...run(['ps', '-aq', '--filter', filter]), ...run(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${STACK}_shopctl-migrate`])];
  if (containers.length) run(['rm', '-f', '-v', ...containers]);
  for (const kind of ['secret', 'config', 'network']) {
    const ids = run([kind, 'ls', '-q', '--filter', filter]);
    if (ids.length) run([kind, 'rm', ...ids]);
  }
  const volumes = run(['volume', 'ls', '-q', '--filter', filter]);
  if (volumes.length) run(['volume', 'rm', '-f', ...volumes]);
  if (setup.nodeId && setup.labelsAdded.length) run(['node', 'update', ...setup.labelsAdded.flatMap((l) => ['--label-rm', l]), setup.nodeId]);
  setup.labelsAdded = [];
  // Children first: v2 and broken are built FROM v1.
  for (const tag of [v.broken, v.two, v.one]) run(['image', 'rm', `${API_IMAGE}:${tag}`]);
  if (setup.ownSwarm) run(['swarm', 'leave', '--force']);
  setup.ownSwarm = false;
  rmSync(scratch, { recursive: true, force: true });
}
process.once('exit', cleanupSync);

test.before(async () => {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } };
  const state = info.Swarm?.LocalNodeState ?? 'inactive';
  if (state === 'inactive') {
    await execa('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    setup.ownSwarm = true;
    log('made a one-node swarm (docker swarm init --advertise-addr 127.0.0.1); it is left at the end');
  } else if (state !== 'active' || !info.Swarm?.ControlAvailable) {
    throw new Error(`the engine is in swarm state "${state}"${info.Swarm?.ControlAvailable ? '' : ' and not a manager'}: the test needs an inactive engine or a manager`);
  } else {
    log('the engine is a swarm manager already: used as it is, and left in the swarm');
  }
  setup.nodeId = ((await docker.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID ?? '';

  // A scratch project: the production file copied unchanged, the repository's config beside it.
  await mkdir(scratch, { recursive: true });
  await copyFile(join(REPO_ROOT, 'docker-compose.production.yml'), join(scratch, 'docker-compose.production.yml'));
  for (const dir of ['config', 'monitoring', 'templates']) await symlink(join(REPO_ROOT, dir), join(scratch, dir));
  const init = await shopctl(['init', '--env', 'production', '--self-signed']);
  if (init.exitCode !== 0) throw new Error(`shopctl init failed:\n${show(init)}`);
  [ports.http, ports.https] = [await freePort(), await freePort()];
  await setEnv({
    HTTP_PORT: String(ports.http),
    HTTPS_PORT: String(ports.https),
    API_IMAGE,
    API_REPLICAS: '3',
    // The load measures the rollout, not the rate limiters.
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    PROXY_RATE_LIMIT: '5000r/s',
    PROXY_CONN_LIMIT: '5000',
    PROXY_AUTH_RATE_LIMIT: '600r/m',
  });
  setup.adminPassword = (await readFile(join(scratch, 'secrets', 'admin_password'), 'utf8')).trim();
  // No Grafana image in some environments (as in the other e2e files): scaled to 0 by a second file.
  const grafana = process.env.GRAFANA_IMAGE ?? 'grafana/grafana:12.0.2';
  if (!(await imageAvailable(grafana))) {
    await writeFile(join(scratch, 'no-grafana.yml'), 'services:\n  grafana:\n    deploy:\n      replicas: 0\n');
    files.push('no-grafana.yml');
    log(`no ${grafana} image here: grafana is deployed with 0 replicas`);
  }

  const started = Date.now();
  const nodeImage = process.env.NODE_IMAGE ? ['--build-arg', `NODE_IMAGE=${process.env.NODE_IMAGE}`] : [];
  await execa('docker', ['build', '--network', 'host', '-q', ...nodeImage, '--build-arg', `APP_VERSION=${v.one}`, '-t', `${API_IMAGE}:${v.one}`, REPO_ROOT]);
  // v2: another image (its own id) of the same code; broken: v2 whose health check always fails, saying why.
  await execa('docker', ['build', '-q', '-t', `${API_IMAGE}:${v.two}`, '-'], { input: `FROM ${API_IMAGE}:${v.one}\nLABEL org.opencontainers.image.version=${v.two}\n` });
  await execa('docker', ['build', '-q', '-t', `${API_IMAGE}:${v.broken}`, '-'], {
    input: `FROM ${API_IMAGE}:${v.two}\nHEALTHCHECK --interval=1s --timeout=5s --start-period=1s --retries=2 CMD ["sh", "-c", "echo 'e2e: this version is broken on purpose' >&2; exit 1"]\n`,
  });
  log(`images built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.after.always(() => {
  const started = Date.now();
  cleanupSync();
  log(`cleanup took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  log(`durations: ${durations.map(([n, ms]) => `${n}: ${(ms / 1000).toFixed(1)} s`).join('; ')}`);
});

test.serial('preflight: a swarm without the labelled nodes is refused before anything changes, naming the command', async (t) => {
  await timed(t, false, async () => {
    const node = (await docker.getNode(setup.nodeId).inspect()) as { Spec?: { Labels?: Record<string, string> } };
    const missing = NODE_LABELS.filter((l) => node.Spec?.Labels?.[l] === undefined);
    if (missing.length) {
      const r = await shopctl(['deploy', 'production', v.one, '--local', '--dry-run']);
      t.is(r.exitCode, 3, show(r));
      t.regex(r.stderr, /no ready node meets the placement of .*_db \(node\.labels\.shop\.data == true\)/);
      t.regex(r.stderr, /docker node update --label-add shop\.data=true /);
      t.regex(r.stderr, /acme does not exist \(bind-mounted by proxy\): swarm does not create it/);
      t.is((await docker.listServices({ filters: { label: [`${STACK_LABEL}=${STACK}`] } })).length, 0, 'nothing deployed');
    } else {
      t.pass('the node carries every label already (not this test\'s to remove)');
    }
    // What docs/swarm.md tells the operator to do.
    await execa('docker', ['node', 'update', ...missing.flatMap((l) => ['--label-add', `${l}=true`]), setup.nodeId]);
    setup.labelsAdded = missing;
    for (const dir of ['acme', 'backups/metrics']) await mkdir(join(scratch, dir), { recursive: true });
  });
});

test.serial('first deploy: the stack runs with 3 API replicas behind nginx, migrated, healthy', async (t) => {
  await timed(t, false, async () => {
    const r = await shopctl(['deploy', 'production', v.one, '--local', '--timeout', '240']);
    t.is(r.exitCode, 0, show(r));
    log(`first deploy: ${(r.ms / 1000).toFixed(1)} s`);
    t.regex(r.stdout, new RegExp(`Deployed ${v.one} in .*first deploy, stack started with 3 api replica\\(s\\)`));
    t.regex(r.stdout, /Migrations applied/);
    const tasks = await apiTasks();
    t.is(tasks.filter((x) => x.state === 'running' && x.image === `${API_IMAGE}:${v.one}`).length, 3, JSON.stringify(tasks));
    const health = await shopctl(['health']);
    t.is(health.exitCode, 0, show(health));
    t.regex(health.stdout, /api\s+3\/3\s+1:healthy 2:healthy 3:healthy/);
    t.regex(health.stdout, /All services healthy\./);
    t.is((await api('/health')).json.version, v.one);
    const releases = JSON.parse((await shopctl(['--json', 'releases'])).stdout) as { current: { version: string; result: string; orchestrator: string } };
    t.like(releases.current, { version: v.one, result: 'success', orchestrator: 'swarm' });
    setup.ok = r.exitCode === 0;

    // Fixtures for the load: products with plenty of stock, and a shopper.
    const admin = await api('/auth/login', { method: 'POST', body: { username: 'admin', password: setup.adminPassword } });
    t.is(admin.status, 200, JSON.stringify(admin.json));
    // 16 products: orders spread over them as over a real catalogue, not queued on a few hot rows.
    for (let i = 0; i < 16; i += 1) {
      const p = await api('/products', { method: 'POST', token: admin.json.access_token, body: { name: `load ${STACK} ${i}`, price: '2.50', stock: 1_000_000 } });
      t.is(p.status, 201);
      load.productIds.push(p.json.id ?? 0);
    }
    const user = `load_${STACK.replace(/-/g, '_').slice(-12)}`;
    t.is((await api('/auth/register', { method: 'POST', body: { username: user, email: `${user}@example.com`, password: 'load-test-password' } })).status, 201);
    load.token = (await api('/auth/login', { method: 'POST', body: { username: user, password: 'load-test-password' } })).json.access_token ?? '';
    t.truthy(load.token);
  });
});

test.serial('a new version rolls out under >= 100 requests/s with zero failed requests (swarm start-first, nginx follows DNS)', async (t) => {
  await timed(t, true, async () => {
    const { r, clients, slow } = await underLoad('deploy v1 -> v2', () => shopctl(['deploy', 'production', v.two, '--local']));
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, /swarm replaced the api tasks one by one \(start-first\), from shop-api:.*-v1, 3 running/);
    t.regex(r.stdout, /rolling update: .* \(update completed\)/);
    everyClientSucceeded(t, clients, SWARM_RATE_PER_CLIENT * 0.95, slow);
    const tasks = await apiTasks();
    t.deepEqual(tasks.map((x) => `${x.image} ${x.state}`), Array(3).fill(`${API_IMAGE}:${v.two} running`));
    t.is((await api('/health')).json.version, v.two);
  });
});

test.serial('a version whose health check fails: swarm rolls back by itself, shopctl exits 5, every request succeeds', async (t) => {
  await timed(t, true, async () => {
    const { r, clients, slow } = await underLoad('deploy of a failing version', () => shopctl(['deploy', 'production', v.broken, '--local', '--skip-migrations']));
    t.is(r.exitCode, 5, show(r));
    t.regex(r.stderr, new RegExp(`${v.broken} failed: swarm rolled ${STACK}_api back: update rolled back due to failure`));
    t.regex(r.stderr, /health check output:[\s\S]*e2e: this version is broken on purpose/);
    t.regex(r.stderr, /previous version \(shop-api:.*-v2\) kept serving throughout/);
    everyClientSucceeded(t, clients, SWARM_RATE_PER_CLIENT * 0.95, slow);
    const tasks = await apiTasks();
    t.deepEqual(tasks.map((x) => `${x.image} ${x.state}`), Array(3).fill(`${API_IMAGE}:${v.two} running`));
    t.is((await api('/health')).json.version, v.two);
    const releases = JSON.parse((await shopctl(['--json', 'releases'])).stdout) as { releases: Array<{ version: string; result: string }>; current: { version: string } };
    t.like(releases.releases[0], { version: v.broken, result: 'rolled_back' });
    t.is(releases.current.version, v.two);
  });
});

test.serial('shopctl rollback: back to the previous release through the same rolling update, under load', async (t) => {
  await timed(t, true, async () => {
    const { r, clients, slow } = await underLoad('rollback v2 -> v1', () => shopctl(['rollback']));
    t.is(r.exitCode, 0, show(r));
    t.regex(r.stdout, new RegExp(`Rolled back production from ${v.two} to ${v.one}`));
    everyClientSucceeded(t, clients, SWARM_RATE_PER_CLIENT * 0.95, slow);
    t.is((await api('/health')).json.version, v.one);
  });
});

test.serial('backup, then restore, against the swarm: checked files, data back as it was, the API scaled down and up', async (t) => {
  await timed(t, true, async () => {
    const b = await shopctl(['--json', 'backup', '--with-redis']);
    t.is(b.exitCode, 0, show(b));
    const doc = JSON.parse(b.stdout) as { backup: { file: string; path: string; sizeBytes: number; rowCounts: Record<string, number>; redis: { file: string; fresh: boolean } } };
    const atBackup = await fingerprint();
    log(`backup ${doc.backup.file}: ${doc.backup.sizeBytes} bytes; ${atBackup}`);
    t.is(doc.backup.rowCounts.orders, Number(/(\d+) orders/.exec(atBackup)?.[1]));
    t.true(doc.backup.redis.fresh);
    const backups = join(scratch, 'backups');
    const sha = await execa('sha256sum', ['-c', `${doc.backup.file}.sha256`, `${doc.backup.redis.file}.sha256`], { cwd: backups, reject: false });
    t.is(sha.exitCode, 0, sha.stdout);
    t.regex(await readFile(join(backups, 'metrics', 'backup.prom'), 'utf8'), new RegExp(`shopctl_backup_last_size_bytes ${doc.backup.sizeBytes}\\n`));

    await psql('DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 5)');
    t.not(await fingerprint(), atBackup);
    const r = await shopctl(['restore', doc.backup.file, '--yes']);
    t.is(r.exitCode, 0, show(r));
    log(`restore took ${(r.ms / 1000).toFixed(1)} s`);
    t.regex(r.stdout, new RegExp(`Scaled ${STACK}_api from 3 to 0|API: 3 container\\(s\\) healthy`));
    t.is(await fingerprint(), atBackup);
    t.is((await apiTasks()).filter((x) => x.state === 'running').length, 3);
    t.is((await api('/health')).status, 200);
    t.true((await readdir(backups)).filter((f) => f.endsWith('.dump')).length >= 2, 'a safety backup was taken first');
  });
});

test.serial('verify against the swarm: every check passes but what the daemon must set (no-new-privileges); pids limits exempt, documented', async (t) => {
  await timed(t, true, async () => {
    const junit = join(scratch, 'verify.xml');
    // A self-signed certificate in this test's production: --allow-untrusted-cert, as for a private CA.
    const r = await shopctl(['verify', '--allow-untrusted-cert', '--junit', junit]);
    const daemonSetsIt = ((await docker.info()) as { SecurityOptions?: string[] }).SecurityOptions?.some((o) => o.includes('name=no-new-privileges')) ?? false;
    const failing = [...r.stdout.matchAll(/^(\S+)\s+FAIL\s/gm)].map((m) => m[1] ?? '');
    if (daemonSetsIt) {
      t.is(r.exitCode, 0, show(r));
    } else {
      t.is(r.exitCode, 7, show(r));
      t.true(failing.length > 0);
      t.deepEqual(failing.filter((id) => !/^hardening\.[a-z0-9-]+\.no-new-privileges$/.test(id)), [], show(r));
      t.regex(r.stdout, /hardening\.api-1\.no-new-privileges\s+FAIL\s+swarm ignores security_opt: set "no-new-privileges": true in \/etc\/docker\/daemon\.json/);
    }
    for (const id of ['stack.services-healthy', 'http.health', 'http.openapi', 'tls.http2', 'tls.certificate', 'headers.csp', 'journey.order', 'journey.cleanup', 'hardening.proxy.published-ports', 'hardening.api-3.non-root', 'hardening.db.read-only', 'hardening.api-2.cap-drop']) {
      t.regex(r.stdout, new RegExp(`${id.replace(/\./g, '\\.')}\\s+(PASS|EXEMPT)`), id);
    }
    t.regex(r.stdout, /hardening\.api-1\.pids-limit\s+EXEMPT\s+no pids limit: docker stack deploy cannot set one/);
    t.regex(await readFile(junit, 'utf8'), /<testsuites name="shopctl verify"/);
  });
});

test.serial('status and health describe the swarm; Prometheus scrapes every API task by DNS (dnsrr)', async (t) => {
  await timed(t, true, async () => {
    const s = await shopctl(['--json', 'status']);
    t.is(s.exitCode, 0, show(s));
    const doc = JSON.parse(s.stdout) as { orchestrator: string; services: Array<{ service: string; replicas: number; desired: number; version: string | null; ports: string[]; constraints: string[] }> };
    t.is(doc.orchestrator, 'swarm');
    t.like(doc.services.find((x) => x.service === 'api'), { replicas: 3, desired: 3, version: v.one });
    t.deepEqual(doc.services.find((x) => x.service === 'db')?.constraints, ['node.labels.shop.data == true']);
    t.true(doc.services.find((x) => x.service === 'proxy')?.ports.some((p) => p.startsWith(`${ports.https}->8443/tcp (host)`)));
    t.is((await shopctl(['health'])).exitCode, 0);
    // Every task is its own target (15 s scrape interval: allow a few).
    const prometheus = await containerOf('prometheus');
    let targets = '';
    for (let i = 0; i < 40; i += 1) {
      const q = await execa('docker', ['exec', prometheus, 'promtool', 'query', 'instant', 'http://127.0.0.1:9090', 'count(up{job="api"} == 1)'], { reject: false });
      targets = q.stdout.trim();
      if (/=> 3 @/.test(targets)) break;
      await sleep(2000);
    }
    t.regex(targets, /=> 3 @/, `Prometheus up{job="api"}: ${targets}`);
  });
});
