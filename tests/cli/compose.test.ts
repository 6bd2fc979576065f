import test from 'ava';
import { base, build, configCheck, pull, run, scaleUp, up, type ComposeProject } from '../../cli/src/compose/commands.js';
import { parseComposeVersion, probeV1, probeV2, v1, v2 } from '../../cli/src/compose/flavour.js';
import { parseComposeModel, splitImage } from '../../cli/src/compose/model.js';

const project = (flavour = v2('2.29.1')): ComposeProject => ({
  flavour,
  projectName: 'shop',
  projectDir: '/srv/shop',
  files: ['/srv/shop/docker-compose.yml'],
  envFile: '/srv/shop/.env',
  profiles: ['monitoring'],
});

const common = ['--project-name', 'shop', '--project-directory', '/srv/shop', '--file', '/srv/shop/docker-compose.yml', '--env-file', '/srv/shop/.env', '--profile', 'monitoring'];

test('v2 runs as `docker compose`, v1 as `docker-compose --compatibility` (deploy.resources limits), same arguments', (t) => {
  t.deepEqual(base(project(), ['ps']), ['docker', ['compose', ...common, 'ps']]);
  t.deepEqual(base(project(v1('1.29.2')), ['ps']), ['docker-compose', ['--compatibility', ...common, 'ps']]);
});

test('several files, no env file, no profiles', (t) => {
  const p: ComposeProject = { flavour: v2('2.0.0'), projectName: 'p', projectDir: '/d', files: ['/d/a.yml', '/d/b.yml'] };
  t.deepEqual(configCheck(p), ['docker', ['compose', '--project-name', 'p', '--project-directory', '/d', '--file', '/d/a.yml', '--file', '/d/b.yml', 'config', '--quiet']]);
});

test('the rolling step starts N more api containers without touching the old ones or dependencies', (t) => {
  t.deepEqual(scaleUp(project(), 'api', 4), ['docker', ['compose', ...common, 'up', '--detach', '--no-deps', '--no-recreate', '--no-build', '--scale', 'api=4', 'api']]);
  t.deepEqual(scaleUp(project(v1('1.29.2')), 'api', 2)[1].slice(-8), ['up', '--detach', '--no-deps', '--no-recreate', '--no-build', '--scale', 'api=2', 'api']);
});

test('up: detached always; scale, services and flags in a stable order', (t) => {
  t.deepEqual(up(project(), { noBuild: true, scale: { api: 2 } })[1].slice(common.length + 1), ['up', '--detach', '--no-build', '--scale', 'api=2']);
  t.deepEqual(up(project(), { services: ['db', 'cache'], noDeps: true, noRecreate: true })[1].slice(common.length + 1), ['up', '--detach', '--no-deps', '--no-recreate', 'db', 'cache']);
  t.throws(() => up(project(), { scale: { api: -1 } }), { instanceOf: RangeError });
  t.throws(() => up(project(), { scale: { api: 1.5 } }), { instanceOf: RangeError });
});

test('one-off migrations: --rm, no TTY, no dependencies, env as -e', (t) => {
  t.deepEqual(run(project(), 'api', ['node', 'api/dist/cli/migrate.js'], { env: { APP_VERSION: '1.2.0' } }), [
    'docker',
    ['compose', ...common, 'run', '--rm', '-T', '--no-deps', '-e', 'APP_VERSION=1.2.0', 'api', 'node', 'api/dist/cli/migrate.js'],
  ]);
  t.deepEqual(run(project(), 'db', ['true'], { noDeps: false, user: 'postgres', entrypoint: '' })[1].slice(common.length + 1), ['run', '--rm', '-T', '--user', 'postgres', '--entrypoint', '', 'db', 'true']);
});

test('build passes build arguments; pull names services', (t) => {
  t.deepEqual(build(project(), ['api'], { buildArgs: { APP_VERSION: '1.2.0', GIT_SHA: 'abc' }, pull: true })[1].slice(common.length + 1), [
    'build',
    '--pull',
    '--build-arg',
    'APP_VERSION=1.2.0',
    '--build-arg',
    'GIT_SHA=abc',
    'api',
  ]);
  t.deepEqual(pull(project(), ['api'])[1].slice(common.length + 1), ['pull', 'api']);
});

test('detection probes and version parsing', (t) => {
  t.deepEqual(probeV2(), ['docker', ['compose', 'version', '--short']]);
  t.deepEqual(probeV1(), ['docker-compose', ['version', '--short']]);
  t.is(parseComposeVersion('v2.29.1\n'), '2.29.1');
  t.is(parseComposeVersion('2.40.3-desktop.1'), '2.40.3-desktop.1');
  t.is(parseComposeVersion('1.29.2'), '1.29.2');
  t.is(parseComposeVersion('docker: unknown command: docker compose'), undefined);
});

test('image references: registry ports are not tags', (t) => {
  t.deepEqual(splitImage('shop-api:1.4.0'), { repository: 'shop-api', tag: '1.4.0' });
  t.deepEqual(splitImage('registry:5000/shop/api'), { repository: 'registry:5000/shop/api', tag: 'latest' });
  t.deepEqual(splitImage('ghcr.io/o/r:abc@sha256:00'), { repository: 'ghcr.io/o/r', tag: 'abc' });
});

test('the compose model: services, build, health checks, replicas, secrets', (t) => {
  const model = parseComposeModel(`
services:
  api:
    image: shop-api:1
    build: {context: .}
    deploy: {replicas: 3}
    secrets: [api_secret_key, {source: postgres_password, target: pg}]
  nginx-exporter:
    image: x
    healthcheck: {disable: true}
    profiles: [monitoring]
  tls:
    image: node
    restart: "no"
    healthcheck: {test: ["NONE"]}
secrets:
  api_secret_key: {file: ./secrets/api_secret_key}
  external_one: {external: true}
`);
  const api = model.services.get('api');
  t.is(api?.image, 'shop-api:1');
  t.true(api?.hasBuild);
  t.is(api?.replicas, 3);
  t.deepEqual(api?.secrets, ['api_secret_key', 'postgres_password']);
  t.false(model.services.get('nginx-exporter')?.hasHealthcheck);
  t.deepEqual(model.services.get('nginx-exporter')?.profiles, ['monitoring']);
  t.false(model.services.get('tls')?.hasHealthcheck);
  t.is(model.services.get('tls')?.restart, 'no');
  t.is(model.secrets.get('api_secret_key')?.file, './secrets/api_secret_key');
  t.is(model.secrets.get('external_one')?.file, undefined);
  t.throws(() => parseComposeModel('- a list'), { message: /not a Compose file/ });
});
