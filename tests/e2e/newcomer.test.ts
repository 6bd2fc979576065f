// The road a newcomer takes, from fresh checkouts, as README.md tells it: the quick start, then
// "From quick start to shopctl" (init, deploy development, verify), then "Production on one
// machine" in a second checkout of the same folder name (init --env production --self-signed,
// deploy production, verify), both stacks side by side and both verified, then the CI
// workflow's deploy job (.github/workflows/docker-deploy.yml, its own shell steps with ssh
// pointed at this host) against that production stack under load: it must not roll back.
// The README's bash blocks are executed line by line, so recipe and test cannot drift apart.
// Everything it starts is removed by Compose project label at the end, also on failure.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import Docker from 'dockerode';
import YAML from 'yaml';
import { PROJECT_LABEL, REPO_ROOT, SERVICE_LABEL, composeCli, freePort, sleep } from './lib/stack.js';
import { SHOPCTL_BIN, show, type Cli } from './lib/cli.js';
import { freshCheckout, readmeRecipe, removeProjects, removeProjectsSync, type RecipeStep } from './lib/checkout.js';
import { httpsJson } from './lib/http.js';
import { runUnderLoad } from './lib/shopctl-load.js';

const docker = new Docker();
const hex = randomBytes(4).toString('hex');
/** Both checkouts have this folder name: only the environment keeps their Compose projects apart. */
const name = `shop${hex}`;
const root = join(process.env.TMPDIR ?? '/tmp', `newcomer-${hex}`);
const devDir = join(root, 'home', name);
const prodDir = join(root, 'srv', name);
const projects = [name, `${name}-production`];
/** `1.0.0` in the README: a tag of this run's own, so no other stack's image is touched. */
const version = `${hex}-1.0.0`;
const sha = `${hex}-ci`;
const grafanaImage = `e2e-grafana-standin:${hex}`;
const tsxLoader = import.meta.resolve('tsx');
const ports = { dev: { http: 0, https: 0 }, prod: { http: 0, https: 0 } };
const stacksUp = { dev: false, prod: false };

const exitHook = () => removeProjectsSync(projects, [root]);
process.once('exit', exitHook);

function log(line: string): void {
  console.log(`[newcomer e2e] ${line}`);
}

/** What an operator's shell has: the engine, image overrides, and the ports this machine leaves free. */
function envFor(which: 'dev' | 'prod', extra: Record<string, string> = {}): Record<string, string> {
  const passed = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => /^(PATH|HOME|USER|TMPDIR|LANG|DOCKER_[A-Z_]+|[A-Z0-9_]+_IMAGE)$/.test(e[0]) && e[1] !== undefined),
  );
  return {
    ...passed,
    NO_COLOR: '1',
    PUBLISH_ADDRESS: '127.0.0.1',
    HTTP_PORT: String(ports[which].http),
    HTTPS_PORT: String(ports[which].https),
    // No Grafana image in this registry-less place: a stand-in that answers its health check.
    GRAFANA_IMAGE: grafanaImage,
    // The load below measures the stack, not the rate limiters.
    PROXY_RATE_LIMIT: '5000r/s',
    PROXY_CONN_LIMIT: '5000',
    RATE_LIMIT_PER_MINUTE: '0',
    ...extra,
  };
}

async function exec(cmd: string, args: string[], cwd: string, env: Record<string, string>, timeoutMs = 900_000): Promise<Cli> {
  const started = Date.now();
  const r = await execa(cmd, args, { cwd, env, extendEnv: false, reject: false, timeout: timeoutMs });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - started };
}

/** shopctl run from `cwd`, as an operator types it there (the CLI from this repository's sources). */
function shopctl(cwd: string, which: 'dev' | 'prod', args: string[], extraEnv: Record<string, string> = {}): Promise<Cli> {
  return exec(process.execPath, ['--import', tsxLoader, SHOPCTL_BIN, ...args], cwd, envFor(which, extraEnv));
}

async function compose(cwd: string, which: 'dev' | 'prod', args: string[], extraEnv: Record<string, string> = {}): Promise<Cli> {
  const [cmd, prefix] = await composeCli();
  return exec(cmd, [...prefix, ...args], cwd, envFor(which, extraEnv));
}

/** One README line, run where the newcomer stands; `git clone ... && cd DIR` makes the production checkout. */
async function runStep(step: RecipeStep, which: 'dev' | 'prod', cwd: string): Promise<{ r: Cli; cwd: string }> {
  const words = step.command.split(/\s+/).map((w) => w.replaceAll('1.0.0', version));
  if (words[0] === 'git' && words[1] === 'clone') {
    freshCheckout(prodDir);
    return { r: { exitCode: 0, stdout: '', stderr: '', ms: 0 }, cwd: prodDir };
  }
  if (words[0] === 'shopctl') return { r: await shopctl(cwd, which, words.slice(1)), cwd };
  if (words[0] === 'docker' && words[1] === 'compose') return { r: await compose(cwd, which, words.slice(2)), cwd };
  throw new Error(`the test does not know how to run this README line: ${step.command}`);
}

async function containers(project: string, service?: string): Promise<Docker.ContainerInspectInfo[]> {
  const label = [`${PROJECT_LABEL}=${project}`, ...(service ? [`${SERVICE_LABEL}=${service}`] : [])];
  const list = await docker.listContainers({ all: true, filters: { label } });
  return Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}

/** Every container of the project running and, where it has a health check, healthy. */
async function waitHealthy(project: string, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = ['no containers'];
  while (Date.now() < deadline) {
    const all = await containers(project);
    pending = all
      .filter((c) => c.HostConfig.RestartPolicy?.Name !== 'no' || c.State.Running)
      .filter((c) => !c.State.Running || (c.State.Health && c.State.Health.Status !== 'healthy'))
      .map((c) => `${c.Name}: ${c.State.Health?.Status ?? c.State.Status}`);
    if (all.length > 0 && pending.length === 0) return;
    await sleep(1000);
  }
  throw new Error(`${project} not healthy within ${timeoutMs} ms: ${pending.join(', ')}`);
}

function step(t: ExecutionContext, label: string, r: Cli, expected: number): void {
  log(`${label}: exit ${r.exitCode} in ${(r.ms / 1000).toFixed(1)} s`);
  t.is(r.exitCode, expected, `${label}\n${show(r)}`);
  if (!label.startsWith('shopctl')) return;
  // Quiet without a terminal: no Compose v1 deploy-key warnings, no `docker build` transcript (finding 7).
  t.notRegex(`${r.stdout}\n${r.stderr}`, /deploy sub-keys are not supported/, `${label}: Compose v1 warnings shown`);
  t.notRegex(r.stdout, /^\s*Step \d+\/\d+ :/m, `${label}: build output shown without --verbose`);
}

test.before(async () => {
  ports.dev = { http: await freePort(), https: await freePort() };
  ports.prod = { http: await freePort(), https: await freePort() };
  await mkdir(devDir, { recursive: true });
  freshCheckout(devDir);
  // The Grafana stand-in: answers /api/health on 3000 as a non-root user, with a `wget` for the compose file's probe.
  const ctx = join(root, 'grafana-standin');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'server.js'), "require('node:http').createServer((q, r) => r.end('{\"database\":\"ok\"}')).listen(3000);\n");
  await writeFile(join(ctx, 'wget'), `#!/bin/sh\nexec node -e "require('node:http').get(process.argv[1], (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))" "$(for a; do u="$a"; done; echo "$u")"\n`);
  await chmod(join(ctx, 'wget'), 0o755);
  await writeFile(join(ctx, 'Dockerfile'), `FROM ${process.env.NODE_IMAGE ?? 'node:24-alpine'}\nCOPY server.js /srv/server.js\nCOPY wget /usr/local/bin/wget\nUSER 472\nENTRYPOINT ["node", "/srv/server.js"]\n`);
  const built = await execa('docker', ['build', '-q', '-t', grafanaImage, ctx], { reject: false });
  if (built.exitCode !== 0) throw new Error(`grafana stand-in: ${built.stderr}`);
});

test.after.always(async () => {
  process.removeListener('exit', exitHook);
  await removeProjects(docker, projects);
  for (const tag of [`shop-api:${version}`, `shop-api:${sha}`, `shop-api:${hex}-2`, `shop-api:${hex}-qs`, grafanaImage]) await docker.getImage(tag).remove().catch(() => undefined);
  removeProjectsSync([], [root]);
});

test.serial('quick start: cp .env.example .env && docker compose up -d --build, healthy', async (t) => {
  await copyFile(join(devDir, '.env.example'), join(devDir, '.env'));
  // The quick start tags its image API_IMAGE:APP_VERSION (dev): this run's own tag instead.
  const r = await compose(devDir, 'dev', ['up', '-d', '--build'], { APP_VERSION: `${hex}-qs` });
  step(t, 'quick start', r, 0);
  await waitHealthy(name);
  t.pass();
});

test.serial('README "From quick start to shopctl", step by step; then shopctl from a subfolder and from outside any project', async (t) => {
  const steps = readmeRecipe('From quick start to shopctl');
  t.deepEqual(
    steps.map((s) => s.command.split(' ').slice(0, 2).join(' ')),
    ['shopctl init', 'shopctl init', 'docker compose', 'shopctl deploy', 'shopctl verify'],
  );
  for (const s of steps) {
    const { r } = await runStep(s, 'dev', devDir);
    step(t, s.command, r, s.expectedExit);
    if (s.command === 'shopctl init') t.regex(r.stderr, /--force/);
    if (s.command === 'shopctl init --force') t.regex(`${r.stdout}\n${r.stderr}`, /database .*old password|old password/i);
    if (s.command.startsWith('shopctl deploy') && r.exitCode === 0) stacksUp.dev = true;
  }
  // From api/ the project is found upward (finding 4), and health sees the stack.
  const health = await shopctl(join(devDir, 'api'), 'dev', ['health']);
  step(t, 'shopctl health from api/', health, 0);
  // From a folder that holds no project: exit 3, naming -C; never an empty table and exit 0.
  await mkdir(join(root, 'elsewhere'), { recursive: true });
  const status = await shopctl(join(root, 'elsewhere'), 'dev', ['status']);
  step(t, 'shopctl status outside any project', status, 3);
  t.regex(status.stderr, /-C/);
});

test.serial('two deploys at once: one is refused by the lock in seconds, before it builds anything', async (t) => {
  if (!stacksUp.dev) return t.fail('skipped: the development stack did not come up');
  const [a, b] = await Promise.all([shopctl(devDir, 'dev', ['deploy', 'development', `${hex}-2`, '--build']), shopctl(devDir, 'dev', ['deploy', 'development', `${hex}-2`, '--build'])]);
  log(`concurrent deploys: exit ${a.exitCode} in ${(a.ms / 1000).toFixed(1)} s, exit ${b.exitCode} in ${(b.ms / 1000).toFixed(1)} s`);
  const refused = [a, b].find((r) => r.exitCode === 4);
  const deployed = [a, b].find((r) => r.exitCode === 0);
  t.truthy(deployed, `${show(a)}\n${show(b)}`);
  t.truthy(refused, `${show(a)}\n${show(b)}`);
  if (!refused) return;
  t.regex(refused.stderr, /holds the lock|lock/i);
  t.notRegex(refused.stdout, /Build shop-api/, 'the refused deploy built nothing');
});

test.serial('README "Production on one machine", step by step, in a checkout of the same folder name; development keeps running', async (t) => {
  if (!stacksUp.dev) return t.fail('skipped: the development stack did not come up');
  const devBefore = (await containers(name)).map((c) => c.Id).sort();
  const steps = readmeRecipe('Production on one machine');
  let cwd = devDir;
  for (const [i, s] of steps.entries()) {
    const ran = await runStep(s, 'prod', cwd);
    cwd = ran.cwd;
    step(t, s.command, ran.r, s.expectedExit);
    if (i === 0) {
      // Before init: no .env; the error names the next step (finding 3).
      const early = await shopctl(cwd, 'prod', ['deploy', 'production', version, '--local']);
      step(t, 'deploy before init', early, 3);
      t.regex(early.stderr, /shopctl init/);
      t.true(early.stderr.length < 600, `short: ${early.stderr}`);
    }
    if (s.command.includes('--dry-run')) {
      t.regex(ran.r.stdout, new RegExp(`${name}-production\\b`), 'the plan names the project');
      t.regex(ran.r.stdout, new RegExp(`${name}-production_db-data`), 'the plan names the volumes');
    }
    if (/^shopctl deploy production \S+ --build$/.test(s.command) && ran.r.exitCode === 0) stacksUp.prod = true;
  }
  t.is(cwd, prodDir);
  // Two projects, apart: development's containers are the same ones, healthy, and production has its own.
  t.deepEqual((await containers(name)).map((c) => c.Id).sort(), devBefore);
  await waitHealthy(name, 30_000);
  const prodContainers = await containers(`${name}-production`);
  t.true(prodContainers.length >= 9, `production containers: ${prodContainers.length}`);
  for (const c of prodContainers) t.true((c.HostConfig.PidsLimit ?? 0) > 0, `${c.Name}: pids limit`);
  // The README's plain-Compose command for production reaches it; the development stop command says where to look.
  const ps = await compose(prodDir, 'prod', ['-p', `${name}-production`, '-f', 'docker-compose.production.yml', '-f', 'docker-compose.production.pids.yml', 'ps']);
  step(t, 'docker compose -p ...-production ps', ps, 0);
  t.regex(ps.stdout, /proxy/);
  const devDown = await compose(prodDir, 'prod', ['down']);
  t.not(devDown.exitCode, 0);
  t.regex(`${devDown.stdout}\n${devDown.stderr}`, /no development \.env here \(shopctl init.*-f docker-compose\.production\.yml/);
  // Verify on both.
  step(t, 'verify development again', await shopctl(devDir, 'dev', ['verify']), 0);
});

test.serial('no API up: nginx answers 503 problem+json, not 502/504', async (t) => {
  if (!stacksUp.dev) return t.fail('skipped: the development stack did not come up');
  for (const c of await containers(name, 'api')) await docker.getContainer(c.Id).stop({ t: 5 });
  const started = Date.now();
  const r = await new Promise<{ status: number; type: string }>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: ports.dev.https, path: '/products', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
    }).on('error', reject);
  });
  // Bounded by nginx: 3 s connect timeout per address tried, 10 s in all (config/nginx/snippets/proxy.conf).
  log(`with the API stopped: ${r.status} ${r.type} after ${Date.now() - started} ms`);
  t.is(r.status, 503);
  t.is(r.type, 'application/problem+json');
  // Development has shown what it had to: stopped, so the shared machine has room for the workflow's part.
  step(t, 'docker compose stop (development)', await compose(devDir, 'dev', ['stop']), 0);
});

test.serial('the workflow deploy job against production under load: deploy, verify, no rollback; rollback to the current version is a no-op', async (t) => {
  if (!stacksUp.prod) return t.fail('skipped: the production stack did not come up');
  // A certificate this host trusts, as a real server has: a CA of this run, its leaf rewritten in place (bind-mounted files).
  const ca = join(root, 'ca');
  await mkdir(ca, { recursive: true });
  const ssl = (args: string[]) => execa('openssl', args, { cwd: ca });
  await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=newcomer e2e CA']);
  await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  await writeFile(join(ca, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await ssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '30', '-extfile', 'ext']);
  await writeFile(join(prodDir, 'certs/tls.crt'), await readFile(join(ca, 'leaf.crt')));
  await writeFile(join(prodDir, 'certs/tls.key'), await readFile(join(ca, 'leaf.key')));
  // As docs/stack.md says for a renewal: files rewritten in place, then nginx reloaded (deploys never reload it).
  step(t, 'nginx -s reload (new certificate)', await compose(prodDir, 'prod', ['-p', `${name}-production`, '-f', 'docker-compose.production.yml', 'exec', '-T', 'proxy', 'nginx', '-s', 'reload']), 0);

  // The build job's image, as the server has it once pulled; no registry here: `pull` of an image present succeeds.
  t.is((await execa('docker', ['tag', `shop-api:${version}`, `shop-api:${sha}`])).exitCode, 0);
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  const [composeCmd] = await composeCli();
  const realCompose = (await execa('sh', ['-c', `command -v ${composeCmd}`])).stdout.trim();
  if (composeCmd === 'docker-compose') {
    await writeFile(join(bin, 'docker-compose'), `#!/bin/sh\nfor a; do [ "$a" = pull ] && exit 0; done\nexec ${realCompose} "$@"\n`);
    await chmod(join(bin, 'docker-compose'), 0o755);
  }
  // `ssh production "cd $DEPLOY_PATH && ..."` runs here; `shopctl` is this repository's CLI.
  await writeFile(join(bin, 'ssh'), '#!/bin/sh\nshift\nexec sh -c "$*"\n');
  await writeFile(join(bin, 'shopctl'), `#!/bin/sh\nexec "${process.execPath}" --import "${tsxLoader}" "${SHOPCTL_BIN}" "$@"\n`);
  await chmod(join(bin, 'ssh'), 0o755);
  await chmod(join(bin, 'shopctl'), 0o755);

  const wf = YAML.parse(await readFile(join(REPO_ROOT, '.github/workflows/docker-deploy.yml'), 'utf8')) as { jobs: Record<string, { steps: Array<{ name?: string; id?: string; if?: string; run?: string }> }> };
  const steps = wf.jobs['deploy']?.steps ?? [];
  const runOf = (stepName: string) => {
    const s = steps.find((x) => x.name === stepName);
    if (!s?.run) throw new Error(`the deploy job has no step "${stepName}" with a run script`);
    return s;
  };
  const jobEnv = envFor('prod', { PATH: `${bin}:${process.env.PATH ?? ''}`, SHA: sha, DEPLOY_PATH: prodDir, GITHUB_RUN_ID: hex, NODE_EXTRA_CA_CERTS: join(ca, 'ca.crt') });
  const bash = (script: string) => exec('bash', ['-e', '-c', script], root, jobEnv);

  // Fixtures for the load: products and a shopper, through the production proxy.
  const adminPassword = (await readFile(join(prodDir, 'secrets/admin_password'), 'utf8')).trim();
  const admin = await httpsJson(ports.prod.https, '/auth/login', { method: 'POST', body: { username: 'admin', password: adminPassword } });
  t.is(admin.status, 200);
  const fixtures = { token: '', productIds: [] as number[] };
  for (let i = 0; i < 3; i += 1) {
    const p = await httpsJson(ports.prod.https, '/products', { method: 'POST', token: admin.json.access_token, body: { name: `newcomer ${hex} ${i}`, price: '3.00', stock: 1_000_000 } });
    t.is(p.status, 201);
    fixtures.productIds.push(p.json.id ?? 0);
  }
  const user = `nc_${hex}`;
  await httpsJson(ports.prod.https, '/auth/register', { method: 'POST', body: { username: user, email: `${user}@example.com`, password: 'newcomer-password-1' } });
  fixtures.token = (await httpsJson(ports.prod.https, '/auth/login', { method: 'POST', body: { username: user, password: 'newcomer-password-1' } })).json.access_token ?? '';
  t.truthy(fixtures.token);

  // Steps in the job's order; the rollback step runs only if verify failed (its `if:`).
  // A modest rate: the point is the pids limits under concurrent reads, writes, a backup and a rolling deploy, on a shared machine.
  const { r: deploy, report } = await runUnderLoad({ port: ports.prod.https, label: 'workflow deploy (production, pids limits on)', fixtures, log, rate: 25, action: () => bash(runOf('shopctl deploy production').run ?? '') });
  step(t, 'workflow: shopctl deploy production', deploy, 0);
  if (deploy.exitCode !== 0) for (const c of await containers(`${name}-production`, 'db')) log(`db ${c.Name} (pids limit ${c.HostConfig.PidsLimit}, OOM killed: ${c.State.OOMKilled}):\n${(await execa('docker', ['logs', '--tail', '40', c.Id], { reject: false, all: true })).all ?? ''}`);
  for (const c of await containers(`${name}-production`)) {
    const stats = (await docker.getContainer(c.Id).stats({ stream: false })) as { pids_stats?: { current?: number } };
    log(`${c.Name}: ${stats.pids_stats?.current ?? '?'} of ${c.HostConfig.PidsLimit} pids after the deploy under load`);
  }
  t.is(report.failed, 0, report.failures.join('\n'));
  const verifyStep = runOf('shopctl verify');
  const verify = await bash(verifyStep.run ?? '');
  step(t, 'workflow: shopctl verify', verify, 0);
  const rollbackStep = runOf('shopctl rollback (verify failed)');
  t.is(rollbackStep.if, "failure() && steps.verify.outcome == 'failure'");
  t.is(verifyStep.id, 'verify');
  const wouldRollBack = verify.exitCode !== 0;
  t.false(wouldRollBack, 'the job would roll back');
  const releases = await shopctl(prodDir, 'prod', ['--json', 'releases']);
  t.is((JSON.parse(releases.stdout) as { current: { version: string } }).current.version, sha);

  // Rolling back to the version that is current: says so, changes nothing, exit 0 (finding 8).
  const before = (await containers(`${name}-production`, 'api')).map((c) => c.Id).sort();
  const same = await shopctl(prodDir, 'prod', ['rollback', sha]);
  step(t, 'rollback to the current version', same, 0);
  t.regex(same.stdout, new RegExp(`${sha} is already the current release`));
  t.deepEqual((await containers(`${name}-production`, 'api')).map((c) => c.Id).sort(), before);
});
