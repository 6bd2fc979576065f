import test from 'ava';
import { GENERATE, envToMap, formatEnvValue, missingFromEnv, parseEnvFile, renderEnv, setEnvValue } from '../../cli/src/formats/envfile.js';
import { generateSecret, looksSecret, secretWeakness, urlHasPassword } from '../../cli/src/secrets.js';

test('parses what Compose v1 and v2 read alike', (t) => {
  const { lines, problems } = parseEnvFile(
    [
      '# comment',
      '',
      'PLAIN=value',
      'export EXPORTED=yes',
      'SPACES = around ',
      'INLINE=value # a comment',
      "SINGLE='it''s # not a comment'",
      'DOUBLE="line\\nbreak \\"quoted\\" # kept"',
      'EMPTY=',
      'URL=postgres://u@db:5432/shop?x=1#frag',
      'PLAIN=last wins',
    ].join('\n'),
  );
  t.deepEqual(problems, []);
  const env = envToMap(lines);
  t.is(env.get('PLAIN'), 'last wins');
  t.is(env.get('EXPORTED'), 'yes');
  t.is(env.get('SPACES'), 'around');
  t.is(env.get('INLINE'), 'value');
  t.is(env.get('SINGLE'), 'it');
  t.is(env.get('DOUBLE'), 'line\nbreak "quoted" # kept');
  t.is(env.get('EMPTY'), '');
  t.is(env.get('URL'), 'postgres://u@db:5432/shop?x=1#frag');
});

test('reports malformed lines with their number', (t) => {
  const { problems } = parseEnvFile('OK=1\nthis is not an assignment\n1BAD=x\nQ="open\n');
  t.deepEqual(
    problems.map((p) => p.line),
    [2, 3, 4],
  );
  t.regex(problems[0]?.message ?? '', /line 2: expected KEY=value/);
  t.regex(problems[2]?.message ?? '', /unterminated double quote/);
});

test('rendering keeps comments and order, replaces values, comments out secrets that live in files', (t) => {
  const template = '# Database\nPOSTGRES_USER=shop\nPOSTGRES_PASSWORD=__GENERATE__\n\n# API\nAPI_SECRET_KEY=__GENERATE__\n';
  const out = renderEnv(parseEnvFile(template).lines, (key, value) => (value !== GENERATE ? undefined : key === 'API_SECRET_KEY' ? 'k3y' : null));
  t.is(out, '# Database\nPOSTGRES_USER=shop\n# POSTGRES_PASSWORD: see the secret file (not in this file on purpose)\n\n# API\nAPI_SECRET_KEY=k3y\n');
});

test('values that need it are quoted so they read back the same', (t) => {
  for (const v of ['plain', 'with space', 'a"quote', 'back\\slash', 'hash # here', 'multi\nline', '']) {
    const text = `K=${formatEnvValue(v)}\n`;
    t.is(envToMap(parseEnvFile(text).lines).get('K'), v, text);
  }
});

test('setEnvValue replaces the last occurrence in place or appends', (t) => {
  t.is(setEnvValue('A=1\nAPP_VERSION=old\n# c\nB=2\n', 'APP_VERSION', '1.4.0'), 'A=1\nAPP_VERSION=1.4.0\n# c\nB=2\n');
  t.is(setEnvValue('A=1', 'APP_VERSION', '1.4.0'), 'A=1\nAPP_VERSION=1.4.0\n');
  t.is(setEnvValue('', 'APP_VERSION', 'x y'), 'APP_VERSION="x y"\n');
});

test('completeness against the template: missing keys, unreplaced placeholders; external keys skipped', (t) => {
  const template = parseEnvFile('A=1\nB=__GENERATE__\nC=__GENERATE__\nD=\n').lines;
  t.deepEqual(missingFromEnv(template, new Map([['A', 'x'], ['B', GENERATE], ['D', '']])), ['B is still __GENERATE__ (run shopctl init)', 'C is missing']);
  t.deepEqual(missingFromEnv(template, new Map([['A', 'x'], ['B', 'y'], ['D', '']]), new Set(['C'])), []);
  t.deepEqual(missingFromEnv(template, new Map([['A', 'x'], ['B', ''], ['C', 'z'], ['D', '']])), ['B is empty']);
});

test('generated secrets: 43 url-safe characters, never twice the same', (t) => {
  const a = generateSecret();
  t.regex(a, /^[A-Za-z0-9_-]{43}$/);
  t.not(a, generateSecret());
  t.is(secretWeakness('api_secret_key', a), undefined);
});

test('weak or default secrets are named with the reason', (t) => {
  t.is(secretWeakness('postgres_password', ''), 'is empty');
  t.regex(secretWeakness('postgres_password', GENERATE) ?? '', /placeholder/);
  t.regex(secretWeakness('postgres_password', 'changeme') ?? '', /known default/);
  t.regex(secretWeakness('postgres_password', 'dev-only-postgres-password') ?? '', /shorter|default/);
  t.regex(secretWeakness('postgres_password', 'aaaaaaaaaaaaaaaaaaaaaaaa') ?? '', /variety/);
  t.regex(secretWeakness('api_secret_key', 'Kx9-2mQ_7vR4tLz8Wn3Y') ?? '', /shorter than 32/);
  t.is(secretWeakness('postgres_password', 'Kx9-2mQ_7vR4tLz8Wn3Y'), undefined);
});

test('secret-looking names and URLs with passwords', (t) => {
  for (const k of ['POSTGRES_PASSWORD', 'API_SECRET_KEY', 'GITHUB_TOKEN', 'AWS_ACCESS_KEY_ID', 'TLS_PRIVATE_KEY']) t.true(looksSecret(k), k);
  for (const k of ['POSTGRES_PASSWORD_FILE', 'POSTGRES_USER', 'APP_VERSION', 'KEYBOARD']) t.false(looksSecret(k), k);
  t.true(urlHasPassword('postgres://shop:s3cret@db:5432/shop'));
  t.false(urlHasPassword('postgres://shop@db:5432/shop'));
  t.false(urlHasPassword('redis://cache:6379/0'));
});
