// Environments kept apart on one machine, and the project found from a subfolder: pure logic.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultProjectName, findProjectDir } from '../../cli/src/context.js';
import { clashOf } from '../../cli/src/orchestrators/compose/project.js';
import { untrustedHint } from '../../cli/src/verify/run.js';

const root = resolve(import.meta.dirname, '../..');
const made = (project: string, file: string) => ({ 'com.docker.compose.project': project, 'com.docker.compose.project.config_files': `/srv/shop/${file}` });

test('each environment has a Compose project of its own by default; swarm keeps the folder name', (t) => {
  t.is(defaultProjectName('/srv/shop', 'development', 'compose'), 'shop');
  t.is(defaultProjectName('/srv/shop', 'production', 'compose'), 'shop-production');
  t.is(defaultProjectName('/srv/shop', 'production', 'swarm'), 'shop');
  // A host already in production keeps the project of its recorded releases.
  t.is(defaultProjectName('/srv/shop', 'production', 'compose', 'shop'), 'shop');
});

test('deploying production onto a project that holds the development stack is refused, naming the way out', (t) => {
  const clash = clashOf({ project: 'shop', environment: 'production', named: true, inProject: [made('shop', 'docker-compose.yml')], fromHere: [] });
  t.regex(clash?.message ?? '', /project shop holds the development stack/);
  t.regex(clash?.hint ?? '', /Nothing was changed.*-p <name>/);
  t.is(clashOf({ project: 'shop-production', environment: 'production', named: false, inProject: [made('shop-production', 'docker-compose.production.yml')], fromHere: [] }), undefined);
  // A container made without our files (e.g. by hand) is no environment's.
  t.is(clashOf({ project: 'shop', environment: 'production', named: true, inProject: [{ 'com.docker.compose.project': 'shop' }], fromHere: [] }), undefined);
});

test('a production stack deployed before projects per environment is kept, not doubled', (t) => {
  const clash = clashOf({ project: 'shop-production', environment: 'production', named: false, inProject: [], fromHere: [made('shop', 'docker-compose.production.yml'), made('other', 'docker-compose.yml')] });
  t.regex(clash?.hint ?? '', /-p shop\b.*COMPOSE_PROJECT_NAME=shop/);
  // Named by the operator: their choice stands.
  t.is(clashOf({ project: 'shop-production', environment: 'production', named: true, inProject: [], fromHere: [made('shop', 'docker-compose.production.yml')] }), undefined);
  // Development beside it is no reason to refuse.
  t.is(clashOf({ project: 'shop-production', environment: 'production', named: false, inProject: [], fromHere: [made('shop', 'docker-compose.yml')] }), undefined);
});

test('the project is found upward from a subfolder, as git and Compose do; none outside it', (t) => {
  t.is(findProjectDir(join(root, 'api', 'src')), root);
  const dir = mkdtempSync(join(tmpdir(), 'shopctl-find-'));
  try {
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    t.is(findProjectDir(join(dir, 'a', 'b')), undefined);
    writeFileSync(join(dir, 'docker-compose.production.yml'), 'services: {}\n');
    t.is(findProjectDir(join(dir, 'a', 'b')), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an untrusted certificate names the flag that applies', (t) => {
  t.regex(untrustedHint('DEPTH_ZERO_SELF_SIGNED_CERT', false), /--allow-untrusted-cert/);
  t.regex(untrustedHint('UNABLE_TO_VERIFY_LEAF_SIGNATURE', false), /--domain/);
});

test('the local monitoring override of docs/monitoring.md is git-ignored', (t) => {
  t.notThrows(() => execFileSync('git', ['-C', root, 'check-ignore', '-q', '--no-index', 'monitoring-ui.override.yml']));
});

test('a failed migration names the cause that applies, not always the migration', async (t) => {
  const { migrationHint } = await import('../../cli/src/orchestrators/compose/rollout.js');
  t.regex(migrationHint('error: password authentication failed for user "shop"'), /created with another one.*-p/);
  t.regex(migrationHint('Connection terminated due to connection timeout'), /did not answer/);
  t.is(migrationHint('ERROR: syntax error at or near "SELEC"'), 'Fix the migration and deploy again.');
});
