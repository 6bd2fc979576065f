// Socket slots (api/src/http/socket-slots.ts): the plan as pure logic, then real Unix sockets and
// links in a temporary folder, with the HTTP requests nginx would make through the slot paths.
import test from 'ava';
import http from 'node:http';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planSlots, SocketSlots, type Member, type SlotSnapshot } from '../../api/src/http/socket-slots.js';

const member = (name: string, version = 'v1', extra: Partial<Member> = {}): Member => ({ name, host: name, version, admitted: false, leaving: false, ...extra });
const snap = (slots: Array<string | null>, members: Member[]): SlotSnapshot => ({ slots, members: new Map(members.map((m) => [m.name, m])) });
const apply = (s: SlotSnapshot, self: string, mode: 'serve' | 'leave') => {
  const slots = [...s.slots];
  for (const c of planSlots(s, self, mode)) slots[c.slot] = c.to;
  return slots;
};
const share = (slots: Array<string | null>, name: string) => slots.filter((s) => s === name).length;

test('plan: the first replica takes every slot; a second of the same version takes half', (t) => {
  const first = apply(snap(Array(8).fill(null), [member('a')]), 'a', 'serve');
  t.deepEqual(first, Array(8).fill('a'));
  const second = apply(snap(first, [member('a'), member('b')]), 'b', 'serve');
  t.is(share(second, 'a'), 4);
  t.is(share(second, 'b'), 4);
});

test('plan: a new version waits until admitted (its health check passed), then takes its share', (t) => {
  const running = Array(8).fill('a');
  t.deepEqual(planSlots(snap(running, [member('a'), member('n', 'v2')]), 'n', 'serve'), []);
  const admitted = apply(snap(running, [member('a'), member('n', 'v2', { admitted: true })]), 'n', 'serve');
  t.is(share(admitted, 'n'), 4);
});

test('plan: a leaving replica hands every slot to the ones that serve, fewest first, never to one that leaves too', (t) => {
  const slots = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
  const left = apply(snap(slots, [member('a'), member('b', 'v1', { leaving: true }), member('n', 'v2', { admitted: true })]), 'a', 'leave');
  t.is(share(left, 'a'), 0);
  t.is(share(left, 'n'), 4);
  t.is(share(left, 'b'), 4);
  // Nobody else serves (the last replica stops): the links stay, nginx answers 503 once they dangle.
  t.deepEqual(planSlots(snap(Array(4).fill('a'), [member('a')]), 'a', 'leave'), []);
});

test('plan: a dead replica\'s slots (null in the snapshot) are repaired by one that serves; a new version takes over when nothing serves', (t) => {
  const repaired = apply(snap(['a', null, 'a', null], [member('a')]), 'a', 'serve');
  t.deepEqual(repaired, ['a', 'a', 'a', 'a']);
  const orphan = apply(snap([null, null, null, null], [member('n', 'v2')]), 'n', 'serve');
  t.deepEqual(orphan, ['n', 'n', 'n', 'n']);
});

// ---- real sockets --------------------------------------------------------------------------------

interface Replica {
  slots: SocketSlots;
  server: http.Server;
  stop(): Promise<void>;
}

async function replica(dir: string, host: string, version: string, onSlotsLost?: () => void): Promise<Replica> {
  const slots = new SocketSlots({ dir, slots: 8, version, host, ...(onSlotsLost ? { onSlotsLost } : {}) });
  await slots.prepare();
  const server = http.createServer((_req, res) => res.end(host));
  await new Promise<void>((resolve) => server.listen({ path: slots.socketPath, writableAll: true, readableAll: true }, resolve));
  return {
    slots,
    server,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** GET through slot i's path, as nginx connects: a new connection each time, no retry. */
const via = (dir: string, i: number) =>
  new Promise<string>((resolve, reject) => {
    http.get({ socketPath: SocketSlots.slotPath(dir, i), path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });

const owners = async (dir: string) => Promise.all(Array.from({ length: 8 }, (_, i) => via(dir, i).catch((e: NodeJS.ErrnoException) => `error:${e.code}`)));

test.serial('real sockets: replicas join, a new version is admitted, the old one leaves, a killed one is replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slots-'));
  const open: Replica[] = [];
  t.teardown(async () => {
    for (const r of open) await r.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  let aLost = 0;
  const a = await replica(dir, 'a', 'v1', () => (aLost += 1));
  const b = await replica(dir, 'b', 'v1');
  open.push(a, b);
  await a.slots['run']('serve');
  t.deepEqual(await owners(dir), Array(8).fill('a'));
  await b.slots['run']('serve');
  t.is(aLost, 0);
  await a.slots['run']('serve');
  t.is(aLost, 1, 'a noticed that b took slots (it then recycles its kept-alive connections)');
  const mixed = await owners(dir);
  t.is(share(mixed, 'a'), 4);
  t.is(share(mixed, 'b'), 4);
  t.true(readlinkSync(SocketSlots.slotPath(dir, 0)).startsWith('members/'));

  // A new version: nothing until admitted.
  const n = await replica(dir, 'n', 'v2');
  open.push(n);
  await n.slots['run']('serve');
  t.is(share(await owners(dir), 'n'), 0);
  await fs.writeFile(SocketSlots.admittedPath(dir, 'n'), '');
  await n.slots['run']('serve');
  t.true(share(await owners(dir), 'n') >= 2);

  // The old ones leave: every slot answers from the new one, at every moment in between.
  const during: string[] = [];
  const probing = (async () => {
    for (let k = 0; k < 40; k++) during.push(...(await owners(dir)));
  })();
  await a.slots.leave();
  await b.slots.leave();
  await probing;
  t.deepEqual(await owners(dir), Array(8).fill('n'));
  t.deepEqual(during.filter((x) => x.startsWith('error')), [], 'a connect() failed while the old replicas left');

  // A replica killed without leaving: its links dangle (nginx would try the next slot); a live one repairs them.
  const m = await replica(dir, 'm', 'v2');
  open.push(m);
  await m.slots['run']('serve');
  t.is(share(await owners(dir), 'm'), 4);
  await m.stop();
  t.true((await owners(dir)).some((x) => x.startsWith('error')));
  await n.slots['run']('serve');
  t.deepEqual(await owners(dir), Array(8).fill('n'));
});
