// shopctl as a program: help, usage errors, exit codes, --json, and the commands that need no Docker.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { FIXTURE_PROJECT, shopctl } from './lib.js';
import { ExitCode } from '../../cli/src/exit-codes.js';
import { envToMap, parseEnvFile } from '../../cli/src/formats/envfile.js';
import { appendRelease, emptyHistory, saveHistory } from '../../cli/src/state/releases.js';

const COMMANDS = ['init', 'deploy', 'rollback', 'releases', 'unlock', 'backup', 'restore', 'health', 'status', 'verify', 'migrate'];

async function project(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(FIXTURE_PROJECT, dir, { recursive: true });
  return dir;
}

test.serial('--help lists every command and the exit codes', async (t) => {
  const r = await shopctl(['--help']);
  t.is(r.exitCode, 0);
  for (const c of COMMANDS) t.regex(r.stdout, new RegExp(`\\n {2}${c}\\b`), c);
  t.regex(r.stdout, /Exit codes:[\s\S]*4 lock held[\s\S]*130 interrupted/);
});

test.serial('every command has --help with an example', async (t) => {
  const results = await Promise.all(COMMANDS.map((c) => shopctl([c, '--help'])));
  results.forEach((r, i) => {
    t.is(r.exitCode, 0, COMMANDS[i]);
    t.regex(r.stdout, /Examples:\n {2}shopctl /, COMMANDS[i]);
  });
});

test.serial('usage errors exit 2 with a hint', async (t) => {
  const unknownOption = await shopctl(['status', '--bogus']);
  t.is(unknownOption.exitCode, ExitCode.USAGE);
  t.regex(unknownOption.stderr, /unknown option '--bogus'/);
  t.is((await shopctl(['frobnicate'])).exitCode, ExitCode.USAGE);
  const env = await shopctl(['deploy', 'staging', '1.0.0']);
  t.is(env.exitCode, ExitCode.USAGE);
  t.regex(env.stderr, /Unknown environment "staging"[\s\S]*hint: Use one of: development, production/);
  t.is((await shopctl(['backup', '--keep-daily', 'many'])).exitCode, ExitCode.USAGE);
  t.is((await shopctl(['deploy', 'development', 'bad tag!'])).exitCode, ExitCode.USAGE);
});

test.serial('--json: one JSON document on stdout, also for errors', async (t) => {
  const dir = await project(t);
  const r = await shopctl(['--json', '-C', dir, 'backup', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0']);
  t.is(r.exitCode, ExitCode.USAGE);
  const doc = JSON.parse(r.stdout) as { ok: boolean; exitCode: number; error: { code: string; message: string } };
  t.like(doc, { ok: false, exitCode: 2, error: { code: 'USAGE' } });
  t.regex(doc.error.message, /would delete every backup/);
});

test.serial('an unreachable engine is a preflight failure (exit 3) that says what to check', async (t) => {
  const dir = await project(t);
  await writeFile(join(dir, 'docker-compose.yml'), 'services: {}\n');
  const r = await shopctl(['-C', dir, 'deploy', 'development', '1.0.0'], { env: { DOCKER_HOST: `unix://${join(dir, 'no.sock')}` } });
  t.is(r.exitCode, ExitCode.PREFLIGHT);
  t.regex(r.stderr, /Docker Engine not reachable at unix:\/\/.*no\.sock[\s\S]*hint: Is dockerd running\?/);
});

test.serial('restore of a file that does not exist: exit 9 before touching anything', async (t) => {
  const dir = await project(t);
  const r = await shopctl(['-C', dir, 'restore', 'shop-20990101T000000Z.dump', '--yes']);
  t.is(r.exitCode, ExitCode.NOT_FOUND);
  t.regex(r.stderr, /not found/);
});

test.serial('init (development): env file with fresh secrets, certificate, modes 0600 for secrets', async (t) => {
  const dir = await project(t);
  const r = await shopctl(['-C', dir, 'init']);
  t.is(r.exitCode, 0, r.stderr);
  const env = envToMap(parseEnvFile(await readFile(join(dir, '.env'), 'utf8')).lines);
  for (const k of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'API_SECRET_KEY', 'ADMIN_PASSWORD']) t.regex(env.get(k) ?? '', /^[A-Za-z0-9_-]{43}$/, k);
  t.is(new Set(['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'API_SECRET_KEY', 'ADMIN_PASSWORD'].map((k) => env.get(k))).size, 4);
  t.is(env.get('POSTGRES_USER'), 'shop');
  t.is((await stat(join(dir, '.env'))).mode & 0o777, 0o600);
  t.is((await stat(join(dir, 'certs', 'tls.key'))).mode & 0o777, 0o600);
  const cert = new X509Certificate(await readFile(join(dir, 'certs', 'tls.crt')));
  t.regex(cert.subjectAltName ?? '', /DNS:localhost/);
  t.regex(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  t.true(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(join(dir, 'certs', 'tls.key')))));
  // No secret in the output.
  for (const k of ['POSTGRES_PASSWORD', 'API_SECRET_KEY']) t.false(r.stdout.includes(env.get(k) ?? '-'), k);
});

test.serial('init never overwrites without --force (exit 10), and replaces everything with it', async (t) => {
  const dir = await project(t);
  t.is((await shopctl(['-C', dir, 'init'])).exitCode, 0);
  const before = await readFile(join(dir, '.env'), 'utf8');
  const again = await shopctl(['-C', dir, 'init']);
  t.is(again.exitCode, ExitCode.REFUSED);
  t.regex(again.stderr, /Refusing to overwrite 3 existing file\(s\): \.env, certs\/tls\.crt, certs\/tls\.key[\s\S]*hint: Pass --force/);
  t.is(await readFile(join(dir, '.env'), 'utf8'), before);
  t.is((await shopctl(['-C', dir, 'init', '--force'])).exitCode, 0);
  t.not(await readFile(join(dir, '.env'), 'utf8'), before);
});

test.serial('init --env production: secrets in secrets/<name> (folder 0700, files readable by the services), not in the env file', async (t) => {
  const dir = await project(t);
  const r = await shopctl(['-C', dir, '--json', 'init', '--env', 'production']);
  t.is(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { environment: string; files: Array<{ path: string; kind: string; mode: string }> };
  t.is(doc.environment, 'production');
  const secrets = doc.files.filter((f) => f.kind === 'secret').map((f) => f.path).sort();
  t.deepEqual(secrets, ['secrets/admin_password', 'secrets/api_secret_key', 'secrets/grafana_admin_password', 'secrets/postgres_password', 'secrets/redis_password']);
  t.is((await stat(join(dir, 'secrets'))).mode & 0o777, 0o700);
  for (const s of secrets) {
    // Compose bind-mounts them as they are and each service reads them as its own user.
    t.is((await stat(join(dir, s))).mode & 0o777, 0o644, s);
    t.regex(await readFile(join(dir, s), 'utf8'), /^[A-Za-z0-9_-]{43}$/, s);
  }
  const text = await readFile(join(dir, '.env'), 'utf8');
  const env = envToMap(parseEnvFile(text).lines);
  t.false(env.has('POSTGRES_PASSWORD'));
  t.regex(text, /# POSTGRES_PASSWORD: see the secret file/);
  t.regex(env.get('WEBHOOK_TOKEN') ?? '', /^[A-Za-z0-9_-]{43}$/);
  t.is(env.get('DOMAIN'), 'shop.example.com');
  await t.throwsAsync(stat(join(dir, 'certs')), { code: 'ENOENT' });
  t.regex(env.get('SHOPCTL_ENV') ?? '', /^production$/);

  // --self-signed: a temporary certificate the proxy (uid 101) can read, in a closed folder.
  const again = await shopctl(['-C', dir, 'init', '--env', 'production', '--self-signed', '--force']);
  t.is(again.exitCode, 0, again.stderr);
  t.is((await stat(join(dir, 'certs'))).mode & 0o777, 0o700);
  t.is((await stat(join(dir, 'certs', 'tls.key'))).mode & 0o777, 0o644);
  t.regex(again.stdout, /replace it with a real one/);
});

test.serial('releases: the history, newest first, current marked; --json for scripts', async (t) => {
  const dir = await project(t);
  let h = emptyHistory();
  for (const [version, result] of [['1.0.0', 'success'], ['1.1.0', 'rolled_back'], ['1.0.1', 'success']] as const) {
    h = appendRelease(h, { id: version, action: 'deploy', environment: 'production', version, image: `shop-api:${version}`, imageId: 'sha256:0123456789abcdef', digest: null, who: 'ops', host: 'web1', startedAt: '2026-11-27T10:00:00.000Z', finishedAt: '2026-11-27T10:00:30.000Z', durationMs: 30_000, result, ...(result === 'rolled_back' ? { error: 'api_3 became unhealthy' } : {}) });
  }
  await saveHistory(join(dir, '.shopctl', 'releases.json'), h);
  const r = await shopctl(['-C', dir, '--env', 'production', 'releases']);
  t.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.regex(lines[0] ?? '', /^when \(UTC\)\s+action\s+version\s+image\s+who\s+took\s+result$/);
  t.regex(lines[2] ?? '', /deploy\s+1\.0\.1 \*\s+0123456789ab\s+ops@web1\s+30\.0 s\s+success/);
  t.regex(lines[3] ?? '', /1\.1\.0\s.*rolled_back: api_3 became unhealthy/);
  const json = JSON.parse((await shopctl(['-C', dir, '--env', 'production', '--json', 'releases'])).stdout) as { current: { version: string }; releases: unknown[] };
  t.is(json.current.version, '1.0.1');
  t.is(json.releases.length, 3);
  t.regex((await shopctl(['-C', dir, '--env', 'development', 'releases'])).stdout, /No releases recorded for development/);
  // Without --env, the environment of the last release is the one shown.
  t.regex((await shopctl(['-C', dir, 'releases'])).stdout, /\* current production release: 1\.0\.1/);
});

test.serial('unlock removes a stale lock naming its holder, and refuses while the holder runs', async (t) => {
  const dir = await project(t);
  const lockDir = join(dir, '.shopctl', 'deploy.lock');
  const sleeper = spawn('sleep', ['600']);
  t.teardown(() => {
    sleeper.kill();
  });
  const { hostname } = await import('node:os');
  const write = (pid: number) => mkdir(lockDir, { recursive: true }).then(() => writeFile(join(lockDir, 'info.json'), JSON.stringify({ who: 'alice', host: hostname(), pid, since: '2026-11-27T10:00:00Z', command: 'deploy', version: '1.4.0', token: 'x' })));
  await write(sleeper.pid ?? 0);
  const refused = await shopctl(['-C', dir, 'unlock']);
  t.is(refused.exitCode, ExitCode.LOCKED);
  t.regex(refused.stderr, /belongs to a running process: alice@/);
  sleeper.kill();
  await new Promise((r) => sleeper.once('exit', r));
  const removed = await shopctl(['-C', dir, 'unlock']);
  t.is(removed.exitCode, 0, removed.stderr);
  t.regex(removed.stdout, /Removed the deploy lock held by alice@.* \(pid \d+, deploy, 1\.4\.0\)/);
  t.regex((await shopctl(['-C', dir, 'unlock'])).stdout, /No deploy lock is held/);
});
