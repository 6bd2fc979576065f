// The server's record of open responses and sockets for the shutdown drain (pure logic; the
// drain itself is in shutdown.test.ts).
import http from 'node:http';
import test from 'ava';
import { OpenSet } from '../../api/src/http/open-set.js';

const response = () => new http.ServerResponse(new http.IncomingMessage(null as never));

test('holds what was added and not yet deleted, whatever the order of deletes', (t) => {
  const inFlight = new OpenSet<http.ServerResponse>();
  const model = new Set<http.ServerResponse>();
  const pool = Array.from({ length: 40 }, response);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 5000; i++) {
    const res = pool[next() % pool.length]!;
    if (next() % 2) {
      inFlight.add(res);
      model.add(res);
    } else {
      t.is(inFlight.delete(res), model.delete(res));
    }
    t.is(inFlight.size, model.size);
  }
  t.deepEqual(new Set(inFlight), model);
});

test('adding twice counts once; deleting twice answers false the second time', (t) => {
  const inFlight = new OpenSet<http.ServerResponse>();
  const a = response();
  const b = response();
  inFlight.add(a);
  inFlight.add(a);
  inFlight.add(b);
  t.is(inFlight.size, 2);
  t.true(inFlight.delete(a));
  t.false(inFlight.delete(a));
  t.is(inFlight.size, 1);
  t.deepEqual([...inFlight], [b]);
});

test('iterating while deleting sees every response that was open when it began', (t) => {
  const inFlight = new OpenSet<http.ServerResponse>();
  const all = Array.from({ length: 5 }, response);
  for (const r of all) inFlight.add(r);
  const seen: http.ServerResponse[] = [];
  for (const r of inFlight) {
    seen.push(r);
    inFlight.delete(r);
  }
  t.is(seen.length, 5);
  t.is(inFlight.size, 0);
});

test('one object can belong to two sets', (t) => {
  const a = new OpenSet<http.ServerResponse>();
  const b = new OpenSet<http.ServerResponse>();
  const [x, y] = [response(), response()];
  a.add(x);
  a.add(y);
  b.add(y);
  b.add(x);
  t.true(a.delete(x));
  t.deepEqual([...a], [y]);
  t.deepEqual([...b], [y, x]);
});
