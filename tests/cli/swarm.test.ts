// The pure parts of shopctl's swarm support: `docker stack` argv, the environment stack deploy
// gets, the migration job's spec, placement constraints against nodes, how an UpdateStatus and
// a task list read, and the hardening verdicts that differ under swarm. No engine needed.
import test from 'ava';
import type Docker from 'dockerode';
import { migrationJobSpec, migrateJobName, sameImage, serviceName, shortServiceName, stackConfig, stackDeploy, stackEnv, taskSlot } from '../../cli/src/orchestrators/swarm/stack.js';
import { matches, nodeFacts, parseConstraint, placementProblems, type NodeFacts } from '../../cli/src/orchestrators/swarm/placement.js';
import { describeProgress, isNewUpdate, judge, progressOf, taskFailure, updateDeadlineMs, type TaskLike } from '../../cli/src/orchestrators/swarm/update.js';
import { containerNumber, serviceOf } from '../../cli/src/docker/containers.js';
import { HARDENING_CHECKS, type HardeningContext } from '../../cli/src/verify/checks.js';
import { parseComposeModel } from '../../cli/src/compose/model.js';
import { shopctl } from './lib.js';

const stack = { stack: 'shop', files: ['/srv/shop/docker-compose.production.yml', '/srv/shop/no-grafana.yml'] };

test('stack deploy: every file in order, resolve-image, registry auth, the stack last; never --detach', (t) => {
  t.deepEqual(stackDeploy(stack, { resolveImage: 'always', withRegistryAuth: true }), [
    'docker',
    ['stack', 'deploy', '--compose-file', '/srv/shop/docker-compose.production.yml', '--compose-file', '/srv/shop/no-grafana.yml', '--resolve-image', 'always', '--with-registry-auth', 'shop'],
  ]);
  t.deepEqual(stackDeploy({ stack: 's', files: ['/a.yml'] }, { resolveImage: 'never', withRegistryAuth: false, prune: true })[1], ['stack', 'deploy', '--compose-file', '/a.yml', '--resolve-image', 'never', '--prune', 's']);
  t.false(stackDeploy(stack, { resolveImage: 'never', withRegistryAuth: true })[1].some((a) => a.startsWith('--detach')));
  t.deepEqual(stackConfig(stack), ['docker', ['stack', 'config', '--compose-file', '/srv/shop/docker-compose.production.yml', '--compose-file', '/srv/shop/no-grafana.yml']]);
});

test('stack deploy reads no env file: the file fills what the caller does not set, shopctl\'s values win over both', (t) => {
  const file = new Map([
    ['HTTPS_PORT', '443'],
    ['APP_VERSION', 'old'],
    ['ADMIN_EMAIL', 'ops@example.com'],
  ]);
  t.deepEqual(stackEnv(file, { HTTPS_PORT: '8443', PATH: '/bin' }, { APP_VERSION: '1.4.0', API_REPLICAS: '3' }), { ADMIN_EMAIL: 'ops@example.com', APP_VERSION: '1.4.0', API_REPLICAS: '3' });
  t.deepEqual(stackEnv(file, {}), { HTTPS_PORT: '443', APP_VERSION: 'old', ADMIN_EMAIL: 'ops@example.com' });
});

test('names: services, tasks, images', (t) => {
  t.is(serviceName('shop', 'api'), 'shop_api');
  t.is(shortServiceName('shop', 'shop_postgres-exporter'), 'postgres-exporter');
  t.is(shortServiceName('shop', 'other_api'), 'other_api');
  t.is(taskSlot('shop_api.3.x7sjo0y99jt4h4vzbtgfdpqo2'), 3);
  t.is(taskSlot('/shop_api.12.abc'), 12);
  t.is(taskSlot('shop_agent.tye1bk9d57dy.abc'), undefined);
  t.true(sameImage('shop-api:1.4.0@sha256:0123', 'shop-api:1.4.0'));
  t.true(sameImage('shop-api', 'shop-api:latest'));
  t.true(sameImage('registry:5000/shop-api', 'registry:5000/shop-api:latest'));
  t.false(sameImage('shop-api:1.4.0', 'shop-api:1.4.1'));
  t.false(sameImage(undefined, 'shop-api:1'));
});

test('the migration job: the api template on the new image, migrate instead of serve, no api alias, no health check, no restart, a job', (t) => {
  const template = {
    ContainerSpec: {
      Image: 'shop-api:1.3.0@sha256:aaa',
      Env: ['APP_VERSION=1.3.0', 'DATABASE_PASSWORD_FILE=/run/secrets/postgres_password'],
      Labels: { 'com.docker.stack.namespace': 'shop' },
      Secrets: [{ SecretID: 's1', SecretName: 'shop_postgres_password', File: { Name: 'postgres_password', UID: '0', GID: '0', Mode: 292 } }],
      Healthcheck: { Test: ['CMD', 'node', '-e', '...'] },
      Init: true,
    },
    Networks: [{ Target: 'n1', Aliases: ['api'] }],
    RestartPolicy: { Condition: 'any', Delay: 5e9 },
    Resources: { Limits: { MemoryBytes: 536870912 } },
    ForceUpdate: 3,
  };
  const job = migrationJobSpec(template, { stack: 'shop', image: 'shop-api:1.4.0', version: '1.4.0', command: ['node', 'api/dist/cli/migrate.js'] });
  t.is(job.Name, 'shop_shopctl-migrate');
  t.is(migrateJobName('shop'), job.Name);
  t.deepEqual(job.Labels, { 'com.docker.stack.namespace': 'shop', 'shopctl.oneoff': 'migrate' });
  t.deepEqual(job.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
  t.deepEqual(job.EndpointSpec, { Mode: 'dnsrr' });
  const c = job.TaskTemplate.ContainerSpec;
  t.is(c.Image, 'shop-api:1.4.0');
  t.deepEqual(c.Args, ['node', 'api/dist/cli/migrate.js']);
  t.deepEqual(c.Env, ['DATABASE_PASSWORD_FILE=/run/secrets/postgres_password', 'APP_VERSION=1.4.0']);
  t.deepEqual(c.Healthcheck, { Test: ['NONE'] });
  // No stack label on the container: never found as a replica of the stack.
  t.deepEqual(c.Labels, { 'shopctl.oneoff': 'migrate' });
  t.deepEqual(c.Secrets, template.ContainerSpec.Secrets);
  t.true(c.Init);
  // The same networks, but never the `api` alias: nginx would send requests to the job.
  t.deepEqual(job.TaskTemplate.Networks, [{ Target: 'n1' }]);
  t.deepEqual(template.Networks, [{ Target: 'n1', Aliases: ['api'] }]);
  t.deepEqual(job.TaskTemplate.RestartPolicy, { Condition: 'none', MaxAttempts: 0 });
  t.is(job.TaskTemplate.ForceUpdate, 0);
  // The api service's own template is not changed.
  t.is(template.ContainerSpec.Image, 'shop-api:1.3.0@sha256:aaa');
});

const node = (over: Partial<NodeFacts> = {}): NodeFacts => ({ id: 'n1', hostname: 'web1', role: 'manager', labels: {}, engineLabels: {}, state: 'ready', availability: 'active', ...over });

test('placement constraints: parsed, compared like swarm (case-insensitive; a missing label matches only !=)', (t) => {
  t.deepEqual(parseConstraint(' node.labels.shop.data == true '), { raw: 'node.labels.shop.data == true', key: 'node.labels.shop.data', op: '==', value: 'true' });
  t.deepEqual(parseConstraint('node.role!=worker'), { raw: 'node.role!=worker', key: 'node.role', op: '!=', value: 'worker' });
  t.is(parseConstraint('what ever'), undefined);
  const labelled = node({ labels: { 'shop.data': 'TRUE' } });
  t.true(matches(labelled, parseConstraint('node.labels.shop.data == true')!));
  t.false(matches(node(), parseConstraint('node.labels.shop.data == true')!));
  t.true(matches(node(), parseConstraint('node.labels.shop.data != true')!));
  t.true(matches(node(), parseConstraint('node.role == manager')!));
  t.true(matches(node(), parseConstraint('node.hostname == WEB1')!));
  t.true(matches(node({ engineLabels: { zone: 'a' } }), parseConstraint('engine.labels.zone == a')!));
});

test('placement problems name the missing label and the command that adds it; drained nodes do not count', (t) => {
  const services = [
    { service: 'db', constraints: ['node.labels.shop.data == true'] },
    { service: 'api', constraints: [] },
    { service: 'proxy', constraints: ['node.labels.shop.edge == true', 'node.role == manager'] },
    { service: 'odd', constraints: ['this is not a constraint'] },
  ];
  const problems = placementProblems(services, [node({ labels: { 'shop.data': 'true' }, availability: 'drain' }), node({ id: 'n2', hostname: 'web2', role: 'worker' })], 'web1');
  t.deepEqual(problems, [
    { service: 'db', constraints: ['node.labels.shop.data == true'], fix: ['docker node update --label-add shop.data=true web1'] },
    { service: 'proxy', constraints: ['node.labels.shop.edge == true', 'node.role == manager'], fix: ['docker node update --label-add shop.edge=true web1'] },
  ]);
  t.deepEqual(placementProblems(services, [node({ labels: { 'shop.data': 'true', 'shop.edge': 'true' } })], 'web1'), []);
});

test('node facts from the Engine\'s node list', (t) => {
  const facts = nodeFacts({ ID: 'abc', Spec: { Labels: { 'shop.data': 'true' }, Role: 'manager', Availability: 'active' }, Description: { Hostname: 'web1', Platform: { OS: 'linux', Architecture: 'x86_64' }, Engine: { Labels: {} } }, Status: { State: 'ready' } });
  t.like(facts, { id: 'abc', hostname: 'web1', role: 'manager', labels: { 'shop.data': 'true' }, state: 'ready', availability: 'active', os: 'linux', arch: 'x86_64' });
});

const task = (id: string, image: string, state: string, desired = 'running', over: Partial<TaskLike> = {}): TaskLike => ({
  ID: id,
  Slot: 1,
  DesiredState: desired,
  CreatedAt: '2026-11-28T10:00:10Z',
  Spec: { ContainerSpec: { Image: image } },
  Status: { State: state, Message: state },
  ...over,
});

test('an update is ours when its start time is new', (t) => {
  t.false(isNewUpdate(undefined, undefined));
  t.true(isNewUpdate(undefined, { State: 'updating', StartedAt: '2026-11-28T10:00:00Z' }));
  t.false(isNewUpdate({ State: 'completed', StartedAt: 'a' }, { State: 'completed', StartedAt: 'a' }));
  t.true(isNewUpdate({ State: 'completed', StartedAt: 'a' }, { State: 'updating', StartedAt: 'b' }));
});

test('progress counts new tasks running and starting, old tasks still meant to run, and failures since the deploy', (t) => {
  const tasks = [
    task('a', 'shop-api:2@sha256:1', 'running'),
    task('b', 'shop-api:2', 'starting'),
    task('c', 'shop-api:1', 'running'),
    task('d', 'shop-api:1', 'shutdown', 'shutdown'),
    task('e', 'shop-api:2', 'failed', 'shutdown', { Status: { State: 'failed', Err: 'task: non-zero exit (1)' } }),
    task('f', 'shop-api:2', 'failed', 'shutdown', { CreatedAt: '2026-11-28T09:00:00Z' }),
    // A server that exits 0 while it should run has failed too.
    task('g', 'shop-api:2', 'complete', 'running'),
  ];
  const p = progressOf(tasks, 'shop-api:2', 3, '2026-11-28T10:00:00Z');
  t.like(p, { desired: 3, newRunning: 1, newStarting: 1, oldRunning: 1 });
  t.deepEqual(p.failedNew.map((x) => x.ID), ['e', 'g']);
  t.is(describeProgress(p, 'shop-api:2'), '1/3 on shop-api:2 (1 starting), 1 old, 2 failed');
  t.is(taskFailure(p.failedNew[0]), 'failed: task: non-zero exit (1)');
  t.is(taskFailure(undefined), 'unknown');
});

test('judge: swarm\'s verdict when the update is ours', (t) => {
  const progress = progressOf([task('a', 'x:2', 'running')], 'x:2', 1);
  const at = (State: string, Message = '') => judge({ update: { State, Message, StartedAt: 'b' }, ours: true, expectUpdate: true, progress, image: 'x:2' });
  t.deepEqual(at('completed', 'update completed'), { done: true, result: 'converged', message: 'update completed' });
  t.deepEqual(at('rollback_completed', 'rollback completed'), { done: true, result: 'rolled_back', message: 'rollback completed' });
  t.like(at('paused', 'update paused due to failure'), { done: true, result: 'paused' });
  t.like(at('rollback_paused'), { done: true, result: 'rollback_paused', message: 'rollback paused' });
  t.deepEqual(at('rollback_started', 'update rolled back due to failure or early termination of task t1'), { done: false, line: 'swarm is rolling back: update rolled back due to failure or early termination of task t1' });
  t.deepEqual(at('updating'), { done: false, line: 'updating: 1/1 on x:2' });
});

test('judge: without an update of ours, wait for it when one is due, else follow the tasks', (t) => {
  const converged = progressOf([task('a', 'x:2', 'running'), task('b', 'x:2', 'running')], 'x:2', 2);
  // A finished update of another deploy is not ours: the template changed, so wait for swarm to begin.
  t.like(judge({ update: { State: 'completed', StartedAt: 'a' }, ours: false, expectUpdate: true, progress: converged, image: 'x:2' }), { done: false });
  t.like(judge({ update: undefined, ours: false, expectUpdate: false, progress: converged, image: 'x:2' }), { done: true, result: 'converged' });
  const mixed = progressOf([task('a', 'x:2', 'running'), task('b', 'x:1', 'running')], 'x:2', 2);
  t.like(judge({ update: undefined, ours: false, expectUpdate: false, progress: mixed, image: 'x:2' }), { done: false });
  const failing = progressOf(['a', 'b', 'c'].map((id) => task(id, 'x:2', 'rejected', 'shutdown', { Status: { State: 'rejected', Err: 'No such image: x:2' } })), 'x:2', 1);
  t.deepEqual(judge({ update: undefined, ours: false, expectUpdate: false, progress: failing, image: 'x:2' }), { done: true, result: 'failing', message: '3 task(s) failed: rejected: No such image: x:2' });
});

test('the update deadline covers every batch (health timeout, delay, drain) and the monitor period', (t) => {
  // 3 replicas one at a time: 3 x (120 + 5 + 20 + 2) s + 30 s monitor + 30 s margin.
  t.is(updateDeadlineMs({ replicas: 3, parallelism: 1, healthTimeoutMs: 120_000, delayMs: 5000, stopGraceMs: 20_000, monitorMs: 30_000 }), 3 * 147_000 + 60_000);
  // parallelism 0 means all at once.
  t.is(updateDeadlineMs({ replicas: 4, parallelism: 0, healthTimeoutMs: 10_000, delayMs: 0, stopGraceMs: 0, monitorMs: 0 }), 12_000 + 30_000);
});

const swarmLabels = { 'com.docker.stack.namespace': 'shop', 'com.docker.swarm.service.name': 'shop_postgres-exporter', 'com.docker.swarm.task.name': 'shop_postgres-exporter.2.ab12cd' };

test('containers of a stack: service without the stack prefix, replica number from the task slot', (t) => {
  const c = { Labels: swarmLabels } as unknown as Docker.ContainerInfo;
  t.is(serviceOf(c), 'postgres-exporter');
  t.is(containerNumber(c), 2);
  const compose = { Labels: { 'com.docker.compose.service': 'api', 'com.docker.compose.container-number': '3' } } as unknown as Docker.ContainerInfo;
  t.is(serviceOf(compose), 'api');
  t.is(containerNumber(compose), 3);
  t.is(serviceOf({ Labels: {} } as unknown as Docker.ContainerInfo), '?');
});

function check(id: string): (info: Docker.ContainerInspectInfo, ctx: HardeningContext) => { status: string; detail: string } {
  const found = HARDENING_CHECKS.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found.run;
}
const info = (host: Partial<Docker.HostConfig>) => ({ HostConfig: host, Config: { Labels: {} }, State: {} }) as unknown as Docker.ContainerInspectInfo;
const hctx = (over: Partial<HardeningContext> = {}): HardeningContext => ({ environment: 'production', service: 'api', proxyService: 'proxy', processUids: [1000], ...over });

test('no-new-privileges: the container\'s own option, else the daemon\'s; under swarm a failure says to set the daemon\'s', (t) => {
  t.is(check('no-new-privileges')(info({ SecurityOpt: ['no-new-privileges:true'] }), hctx()).status, 'pass');
  t.is(check('no-new-privileges')(info({ SecurityOpt: [] }), hctx({ swarm: true, daemonNoNewPrivileges: true })).status, 'pass');
  const swarm = check('no-new-privileges')(info({}), hctx({ swarm: true }));
  t.is(swarm.status, 'fail');
  t.regex(swarm.detail, /daemon\.json/);
  t.is(check('no-new-privileges')(info({}), hctx()).detail, 'security_opt lacks no-new-privileges:true');
});

test('pids limit: under swarm an explicit exemption (stack files cannot set one), a failure under Compose', (t) => {
  t.is(check('pids-limit')(info({ PidsLimit: 128 }), hctx({ swarm: true })).status, 'pass');
  const swarm = check('pids-limit')(info({ PidsLimit: 0 }), hctx({ swarm: true }));
  t.is(swarm.status, 'exempt');
  t.regex(swarm.detail, /docker stack deploy cannot set one/);
  t.is(check('pids-limit')(info({}), hctx()).status, 'fail');
});

test('the compose model reads placement constraints', (t) => {
  const model = parseComposeModel('services:\n  db:\n    image: postgres\n    deploy:\n      placement:\n        constraints: [node.labels.shop.data == true]\n  api:\n    image: shop-api\n');
  t.deepEqual(model.services.get('db')?.constraints, ['node.labels.shop.data == true']);
  t.deepEqual(model.services.get('api')?.constraints, []);
});

test('--orchestrator: unknown names are a usage error; swarm deploys production only', async (t) => {
  const bad = await shopctl(['--orchestrator', 'kubernetes', 'status']);
  t.is(bad.exitCode, 2, bad.stderr);
  t.regex(bad.stderr, /Unknown orchestrator "kubernetes" \(from --orchestrator\)[\s\S]*hint: Use one of: compose, swarm/);
  const dev = await shopctl(['--orchestrator', 'swarm', 'deploy', 'development', '1.0.0']);
  t.is(dev.exitCode, 2, dev.stderr);
  t.regex(dev.stderr, /--orchestrator swarm deploys production only[\s\S]*hint: shopctl --orchestrator swarm deploy production <version>/);
});
