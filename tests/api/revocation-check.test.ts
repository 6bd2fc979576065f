import test from 'ava';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { mirrorAnswer, RevocationStore } from '../../api/src/data/sessions.js';
import { createTestEnv, freePort, registerAndLogin, type TestEnv } from './helpers/harness.js';

let env: TestEnv;

test.before(async () => {
  env = await createTestEnv();
});
test.after.always(async () => {
  await env?.close();
});

test('the Redis mirror is trusted only for [marker, null | "1"]: another command\'s reply is no answer', (t) => {
  t.false(mirrorAnswer(['1796170072230', null]));
  t.true(mirrorAnswer(['1796170072230', '1']));
  // No marker: Redis restarted or was flushed, PostgreSQL decides (and the mirror is reloaded).
  t.is(mirrorAnswer([null, null]), undefined);
  // What a command can be handed when a crash cuts its connection: never "revoked".
  for (const reply of ['OK', 'PONG', 1, null, [], ['OK', 'OK'], ['P', 'O'], ['1796170072230', 'x'], ['1796170072230', null, null]]) {
    t.is(mirrorAnswer(reply), undefined, JSON.stringify(reply));
  }
});

test('a reply of the wrong shape from Redis: PostgreSQL answers, so a valid token stays valid and a logout holds', async (t) => {
  // The process boundary stubbed: a Redis whose MGET is answered with another command's "OK".
  let asked = 0;
  const redis = {
    status: 'ready',
    on: () => redis,
    del: async () => 1,
    mget: async () => {
      asked += 1;
      return 'OK';
    },
    pipeline: () => ({ set: () => undefined, exec: async () => [] }),
  };
  const store = new RevocationStore(env.db, redis as unknown as Redis, env.prefix);
  await new Promise((resolve) => setImmediate(resolve)); // its marker cleared: the mirror is asked from now on
  const valid = randomUUID();
  const revoked = randomUUID();
  const { id } = await env.db.one<{ id: number }>("INSERT INTO users (username, email, password_hash) VALUES ($1, $1 || '@example.com', 'x') RETURNING id", [`rc${Date.now()}`]);
  await env.db.none("INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')", [revoked, id]);
  t.false(await store.isRevoked(valid));
  t.true(await store.isRevoked(revoked));
  t.is(asked, 2, 'the mirror was asked, and its answer not trusted');
});

test.serial('a revocation check that fails is the server\'s error (problem+json 5xx), never a 401 for a valid token', async (t) => {
  // Redis unreachable, so every check asks PostgreSQL; then that query fails.
  const api = await env.start({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
  const shopper = await registerAndLogin(api, 'rc');
  t.is((await api.request('GET', '/auth/me', { token: shopper.token })).status, 200);
  await env.db.none('ALTER TABLE revoked_tokens RENAME TO revoked_tokens_away');
  try {
    const me = await api.request('GET', '/auth/me', { token: shopper.token });
    t.is(me.status, 500, me.text);
    t.regex(me.headers.get('content-type') ?? '', /application\/problem\+json/);
    t.is(me.headers.get('www-authenticate'), null);
  } finally {
    await env.db.none('ALTER TABLE revoked_tokens_away RENAME TO revoked_tokens');
  }
  t.is((await api.request('GET', '/auth/me', { token: shopper.token })).status, 200);
});
