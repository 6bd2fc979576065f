// Passwords per NIST SP 800-63B: 8+ characters, not a common or breached password (a list
// shipped with the API, no network), not one character repeated, not the username or e-mail.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { apiPerFile } from './helpers/harness.js';
import { commonPasswordList, moduleText } from './helpers/common-passwords.js';

const file = apiPerFile(test);

const register = (username: string, password: string, email = `${username}@example.com`) =>
  file.api.request('POST', '/auth/register', { body: { username, email, password } });

test('weak passwords -> 422 weak_password naming the password field, and no account is created', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['weak1', '12345678', /most common passwords/],
    ['weak2', 'password', /most common passwords/],
    ['weak3', 'Password1', /most common passwords/],
    ['weak4', '        ', /single character repeated/],
    ['weak5', 'aaaaaaaaaaaa', /single character repeated/],
    ['weak6username', 'weak6username', /username or e-mail/],
    ['weak7', 'WEAK7@example.com', /username or e-mail/],
  ];
  for (const [username, password, message] of cases) {
    const res = await register(username, password);
    t.is(res.status, 422, `${username}: ${JSON.stringify(password)}`);
    t.is(res.headers.get('content-type'), 'application/problem+json');
    t.is(res.body.code, 'weak_password', res.text);
    t.is(res.body.errors.length, 1);
    t.is(res.body.errors[0].path, 'password');
    t.regex(res.body.errors[0].message, message);
    t.regex(res.body.detail, /^the password /);
  }
  // Characters, not UTF-16 units: four emoji are four characters (the schema's minLength counts so too).
  for (const short of ['1234567', '🙂🙂🙂🙂']) {
    const res = await register('weak9', short);
    t.like(res.body, { status: 422, code: 'validation_failed', errors: [{ path: 'password', message: 'must be at least 8 characters' }] });
  }
  t.is((await file.env.db.one<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE username LIKE 'weak%'")).n, 0);
});

test('a long passphrase, or one with any characters, is accepted', async (t) => {
  t.is((await register('strong1', 'correct horse battery staple')).status, 201);
  t.is((await register('strong2', 'Ünïcödé & spaces ok')).status, 201);
});

test('the shipped list is the package it is built from, and holds a few thousand entries', async (t) => {
  const list = commonPasswordList();
  t.true(list.length >= 5000 && list.length <= 10_000, `${list.length} entries`);
  t.true(list.includes('password') && list.includes('12345678') && list.includes('iloveyou'));
  const shipped = await readFile(new URL('../../api/src/domain/common-passwords.ts', import.meta.url), 'utf8');
  t.is(shipped, moduleText(list), 'regenerate: node --import=tsx tests/api/helpers/common-passwords.ts --write');
});
