import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendRelease, currentRelease, emptyHistory, loadHistory, parseHistory, rollbackTarget, saveHistory, type Release, type ReleaseHistory } from '../../cli/src/state/releases.js';
import { ShopctlError } from '../../cli/src/errors.js';
import { ExitCode } from '../../cli/src/exit-codes.js';

let n = 0;
function release(version: string, result: Release['result'] = 'success', environment = 'production', action: Release['action'] = 'deploy'): Release {
  n += 1;
  const at = new Date(Date.UTC(2026, 10, 1, 0, n)).toISOString();
  return { id: `r${n}`, action, environment, version, image: `shop-api:${version}`, imageId: `sha256:${version}`, who: 'ops', host: 'web1', startedAt: at, finishedAt: at, durationMs: 1000, result };
}

function history(...releases: Release[]): ReleaseHistory {
  return releases.reduce((h, r) => appendRelease(h, r), emptyHistory());
}

test('the current release is the newest success in that environment', (t) => {
  const h = history(release('1.0.0'), release('1.1.0'), release('1.2.0', 'rolled_back'), release('9.9.9', 'success', 'development'));
  t.is(currentRelease(h, 'production')?.version, '1.1.0');
  t.is(currentRelease(h, 'development')?.version, '9.9.9');
  t.is(currentRelease(h, 'staging'), undefined);
});

test('rollback without a version: the newest success before the current one with another version', (t) => {
  const h = history(release('1.0.0'), release('1.1.0'), release('1.1.0'), release('1.2.0', 'failed'), release('1.2.0', 'rolled_back'));
  t.is(rollbackTarget(h, 'production').version, '1.0.0');
  // After rolling back to 1.0.0, "rollback" again goes forward to 1.1.0: the previous release.
  const after = appendRelease(h, release('1.0.0', 'success', 'production', 'rollback'));
  t.is(rollbackTarget(after, 'production').version, '1.1.0');
});

test('rollback to a named version picks its newest successful release', (t) => {
  const h = history(release('1.0.0'), release('1.1.0'), release('1.0.0', 'failed'));
  t.is(rollbackTarget(h, 'production', '1.0.0').id, h.releases[0]?.id ?? '');
});

test('rollback refusals: unknown version, nothing released, a single version', (t) => {
  const h = history(release('1.0.0', 'success'), release('2.0.0', 'failed'));
  const unknown = t.throws(() => rollbackTarget(h, 'production', '2.0.0'), { instanceOf: ShopctlError });
  t.is(unknown?.exitCode, ExitCode.NOT_FOUND);
  t.regex(unknown?.message ?? '', /No successful release of version "2.0.0"/);
  t.throws(() => rollbackTarget(emptyHistory(), 'production'), { message: /nothing to roll back to/ });
  t.throws(() => rollbackTarget(h, 'production'), { message: /Only version 1.0.0 was ever released/ });
});

test('the history keeps the newest entries when it grows past its limit', (t) => {
  let h = emptyHistory();
  for (let i = 0; i < 12; i += 1) h = appendRelease(h, release(`1.0.${i}`), 10);
  t.is(h.releases.length, 10);
  t.is(h.releases[0]?.version, '1.0.2');
  t.is(h.releases.at(-1)?.version, '1.0.11');
});

test('save and load round-trip; a missing file is an empty history; a damaged one is a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-releases-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'state', 'releases.json');
  t.deepEqual(await loadHistory(path), emptyHistory());
  const h = history(release('1.0.0'));
  await saveHistory(path, h);
  t.deepEqual(await loadHistory(path), h);
  t.regex(await readFile(path, 'utf8'), /"schema": 1/);
  await writeFile(path, '{"schema":1,"releases":[{"version":1}]}');
  await t.throwsAsync(loadHistory(path), { message: /does not look like a shopctl release history: releases\.0\./ });
  t.throws(() => parseHistory('{oops'), { message: /not valid JSON/ });
});
