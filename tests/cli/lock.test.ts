import test from 'ava';
import { mkdtemp, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, breakLock, describeHolder, forceUnlock, readLock, staleReason, type Environment, type LockInfo } from '../../cli/src/state/lock.js';
import { ShopctlError } from '../../cli/src/errors.js';
import { ExitCode } from '../../cli/src/exit-codes.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, '.shopctl', 'deploy.lock');
}

test('the first caller takes the lock and writes who, where, since, what', async (t) => {
  const dir = await tempDir(t);
  const lock = await acquireLock(dir, { command: 'deploy', version: '1.4.0', message: 'hotfix' });
  const info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as LockInfo;
  t.like(info, { pid: process.pid, command: 'deploy', version: '1.4.0', message: 'hotfix' });
  t.regex(info.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.truthy(info.who && info.host && info.token);
  await lock.release();
  t.deepEqual(await readLock(dir), { state: 'free' });
});

test('a second caller is refused with exit code 4, naming the holder and since when', async (t) => {
  const dir = await tempDir(t);
  const first = await acquireLock(dir, { command: 'deploy', version: '1.4.0', label: 'deploy' });
  const error = await t.throwsAsync(acquireLock(dir, { command: 'deploy', version: '1.5.0', label: 'deploy' }), { instanceOf: ShopctlError });
  t.is(error?.exitCode, ExitCode.LOCKED);
  t.regex(error?.message ?? '', new RegExp(`Another deploy holds the lock: .+@.+ \\(pid ${process.pid}, deploy, 1\\.4\\.0\\) since \\d{4}-`));
  t.regex(error?.hint ?? '', /--wait/);
  await first.release();
});

test('of many concurrent callers exactly one wins', async (t) => {
  const dir = await tempDir(t);
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => acquireLock(dir, { command: 'deploy', version: String(i) })));
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.is(results.filter((r) => r.status === 'rejected' && (r.reason as ShopctlError).exitCode === ExitCode.LOCKED).length, 19);
});

test('--wait queues behind the holder and gets the lock when it is released', async (t) => {
  const dir = await tempDir(t);
  const first = await acquireLock(dir, { command: 'deploy' });
  let waited = '';
  const second = acquireLock(dir, { command: 'deploy', waitMs: 5000, pollMs: 20, onWait: (h) => (waited = h) });
  await new Promise((r) => setTimeout(r, 100));
  await first.release();
  const lock = await second;
  t.regex(waited, /pid \d+, deploy/);
  t.is(lock.info.command, 'deploy');
  await lock.release();
});

test('--wait gives up at its deadline', async (t) => {
  const dir = await tempDir(t);
  const first = await acquireLock(dir, { command: 'deploy' });
  const started = Date.now();
  await t.throwsAsync(acquireLock(dir, { command: 'deploy', waitMs: 200, pollMs: 20 }), { instanceOf: ShopctlError });
  t.true(Date.now() - started >= 190);
  await first.release();
});

test('a lock whose process is gone is reported as stale, never removed silently', async (t) => {
  const dir = await tempDir(t);
  const env: Environment = { hostname: 'web1', isAlive: () => false, now: () => new Date('2026-11-27T12:05:00Z') };
  const lock = await acquireLock(dir, { command: 'deploy', env });
  const error = await t.throwsAsync(acquireLock(dir, { command: 'deploy', label: 'deploy', env }), { instanceOf: ShopctlError });
  t.regex(error?.hint ?? '', /looks stale \(process \d+ on web1 no longer exists\).*shopctl unlock/);
  t.is((await readLock(dir)).state, 'held');
  await lock.release();
});

test('stale only on the same host with a dead pid', (t) => {
  const info: LockInfo = { who: 'ops', host: 'web1', pid: 42, since: '2026-11-27T12:00:00Z', command: 'deploy', token: 't' };
  t.is(staleReason(info, { hostname: 'web2', isAlive: () => false, now: () => new Date() }), undefined);
  t.is(staleReason(info, { hostname: 'web1', isAlive: () => true, now: () => new Date() }), undefined);
  t.is(staleReason(info, { hostname: 'web1', isAlive: () => false, now: () => new Date() }), 'process 42 on web1 no longer exists');
  t.is(describeHolder({ ...info, version: '1.4.0', message: 'hotfix' }, { hostname: 'web1', isAlive: () => true, now: () => new Date('2026-11-27T12:05:00Z') }), 'ops@web1 (pid 42, deploy, 1.4.0) since 2026-11-27T12:00:00Z (5 min 0 s ago): hotfix');
});

test('release removes only our own lock: after a force-unlock and a new holder, the old handle leaves it alone', async (t) => {
  const dir = await tempDir(t);
  const old = await acquireLock(dir, { command: 'deploy' });
  const removed = await forceUnlock(dir);
  t.is(removed.state, 'held');
  const fresh = await acquireLock(dir, { command: 'deploy', version: 'new' });
  await old.release();
  const now = await readLock(dir);
  t.is(now.state === 'held' ? now.info.version : undefined, 'new');
  await fresh.release();
});

test('a directory without info.json counts as held (mkdir won, the write has not landed)', async (t) => {
  const dir = await tempDir(t);
  await mkdir(dir, { recursive: true });
  t.deepEqual(await readLock(dir), { state: 'incomplete' });
  await t.throwsAsync(acquireLock(dir, { command: 'deploy' }), { message: /unknown holder/ });
  t.is((await forceUnlock(dir)).state, 'incomplete');
  t.deepEqual(await readLock(dir), { state: 'free' });
});

test('breaking a lock: refused while its process runs on this host, done when it is gone or elsewhere', async (t) => {
  const dir = await tempDir(t);
  let alive = true;
  const env: Environment = { hostname: 'web1', isAlive: () => alive, now: () => new Date() };
  await acquireLock(dir, { command: 'deploy', env });
  const refused = await t.throwsAsync(breakLock(dir, 'deploy', env), { instanceOf: ShopctlError });
  t.is(refused?.exitCode, ExitCode.LOCKED);
  t.regex(refused?.message ?? '', /belongs to a running process/);
  t.is((await readLock(dir)).state, 'held');
  alive = false;
  t.is((await breakLock(dir, 'deploy', env)).state, 'held');
  t.deepEqual(await readLock(dir), { state: 'free' });
  // Another host's process cannot be checked from here: an explicit unlock removes it.
  await acquireLock(dir, { command: 'deploy', env: { ...env, hostname: 'web2', isAlive: () => true } });
  t.is((await breakLock(dir, 'deploy', { ...env, isAlive: () => true })).state, 'held');
});
