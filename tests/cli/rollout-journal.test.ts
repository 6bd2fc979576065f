import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAbandoned, clearJournal, leftoverContainers, readJournal, readPaused, writeJournal, writePaused, type RolloutJournal } from '../../cli/src/state/rollout-journal.js';
import type { Environment } from '../../cli/src/state/lock.js';

const env = (alive: boolean): Environment => ({ hostname: 'web1', isAlive: () => alive, now: () => new Date('2026-12-02T00:20:00Z') });

test('the journal is written whole (0600), read back, and gone once cleared', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-journal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'rollout.json');
  t.is(await readJournal(path), undefined);
  await writeJournal(path, { phase: 'start', oldIds: ['a', 'b'], newIds: [] }, env(true));
  t.deepEqual(await readJournal(path), { host: 'web1', pid: process.pid, phase: 'start', oldIds: ['a', 'b'], newIds: [], since: '2026-12-02T00:20:00.000Z' });
  await clearJournal(path);
  t.is(await readJournal(path), undefined);
  await writeFile(path, '{"half":');
  await t.throwsAsync(readJournal(path), { message: /not a rollout journal/ });
  t.regex(await readFile(path, 'utf8'), /half/, 'an unreadable journal is left for the operator, not deleted');
});

test('a killed start leaves its new containers to remove (also those it never learnt the ids of); a killed retire its old ones', (t) => {
  const start: RolloutJournal = { host: 'web1', pid: 42, phase: 'start', oldIds: ['old1', 'old2'], newIds: ['new1'], since: '' };
  t.deepEqual(leftoverContainers(start, ['old1', 'old2', 'new1', 'new2']), ['new1', 'new2']);
  t.deepEqual(leftoverContainers(start, ['old1', 'old2']), []);
  const retire: RolloutJournal = { ...start, phase: 'retire', newIds: ['new1', 'new2'] };
  t.deepEqual(leftoverContainers(retire, ['old2', 'new1', 'new2']), ['old2']);
  t.deepEqual(leftoverContainers(retire, ['new1', 'new2']), []);
});

test('a journal of a process still running on this host is not cleaned up behind its back', (t) => {
  const j: RolloutJournal = { host: 'web1', pid: 42, phase: 'start', oldIds: [], newIds: [], since: '2026-12-02T00:19:00Z' };
  t.throws(() => assertAbandoned(j, env(true)), { message: /rollout of process 42 .* is still running/ });
  t.notThrows(() => assertAbandoned(j, env(false)));
  // Our own journal (a second rollout in one process) and another host's: nothing to wait for.
  t.notThrows(() => assertAbandoned({ ...j, pid: process.pid }, env(true)));
  t.notThrows(() => assertAbandoned({ ...j, host: 'web2' }, env(true)));
});

test('the containers a restore stopped are written before it stops them and read back by the next one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-paused-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'paused-api.json');
  t.is(await readPaused(path), undefined);
  await writePaused(path, ['api1', 'api2'], env(false));
  t.deepEqual(await readPaused(path), { host: 'web1', pid: process.pid, ids: ['api1', 'api2'], since: '2026-12-02T00:20:00.000Z' });
  await writeFile(path, 'not json');
  await t.throwsAsync(readPaused(path), { message: /not a list of stopped containers/ });
});
