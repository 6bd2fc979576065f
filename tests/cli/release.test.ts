// The release pipeline (cli/src/release/) against a small in-memory orchestrator: no Docker.
// What an operator would notice: which version serves, whether the deploy lock is left
// behind, what the release history says, and that a dry-run changes nothing.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '../../cli/src/context.js';
import { Output } from '../../cli/src/output.js';
import { readLock, type LockHandle } from '../../cli/src/state/lock.js';
import { loadHistory } from '../../cli/src/state/releases.js';
import type { Failure, Orchestrator, Rollout, RolloutStep, StackNow } from '../../cli/src/orchestrators/orchestrator.js';
import { planOf, runRelease, type Step } from '../../cli/src/release/pipeline.js';
import { closing, lockStep, rolloutSteps } from '../../cli/src/release/steps.js';

/** A stack held in memory: api instances by version, and which ones the proxy sends requests to. */
class MemoryStack {
  instances: string[] = ['v1', 'v1'];
  proxy: string[] = ['v1', 'v1'];
  migrated = false;
  /** Every change, in order. */
  changes: string[] = [];
}

function memoryRollout(stack: MemoryStack, version: string): Rollout {
  let old: string[] = [];
  let started: string[] = [];
  let switched = false;
  let retired = false;
  const step = (name: string, run: () => void): RolloutStep => ({
    name,
    title: name,
    plan: () => `${name} ${version}`,
    run: async () => {
      stack.changes.push(name);
      run();
    },
  });
  return {
    prepare: [step('inspect', () => (old = [...stack.instances]))],
    migrate: [step('migrations', () => (stack.migrated = true))],
    roll: [
      step('start new', () => {
        started = old.map(() => version);
        stack.instances = [...old, ...started];
      }),
      step('switch', () => {
        switched = true;
        stack.proxy = [...started];
      }),
    ],
    retire: [
      step('stop old', () => {
        retired = true;
        stack.instances = [...started];
      }),
    ],
    expectedVersion: () => version,
    replicas: () => started.length || old.length,
    firstDeploy: () => old.length === 0,
    async undo(failure: Failure): Promise<Failure> {
      if (retired) return failure;
      if (switched) stack.proxy = [...old];
      stack.instances = [...old];
      stack.changes.push('undo');
      return { result: started.length ? 'rolled_back' : 'failed', error: failure.error };
    },
    report: () => ({ headline: `${old.length} old -> ${started.length} new`, lines: [], data: {}, exitCode: 0 }),
  };
}

function memoryOrchestrator(stack: MemoryStack): Orchestrator {
  const unused = () => {
    throw new Error('not used by the release pipeline');
  };
  return {
    kind: 'compose',
    label: 'memory',
    assertCanRelease: () => undefined,
    model: unused,
    check: unused,
    now: async (): Promise<StackNow> => ({ apiReplicas: stack.instances.length, apiNames: [], firstDeploy: stack.instances.length === 0, dbRunning: true }),
    pullCommand: unused,
    rollout: (opts) => memoryRollout(stack, opts.version),
    migrate: unused,
    proxyEndpoint: unused,
    runningContainer: unused,
    containers: unused,
    pause: unused,
    volumeName: unused,
    startService: unused,
    status: unused,
    health: unused,
    verifyTargets: unused,
  };
}

interface Setup {
  ctx: Context;
  stack: MemoryStack;
  steps: Step[];
  end: ReturnType<typeof closing>;
  dir: string;
}

const ORDER = ['preflight', 'image', 'lock', 'backup', 'inspect', 'migrations', 'start new', 'switch', 'smoke', 'stop old'];

/** The steps of a deploy of v2, as release/deploy.ts strings them, around the in-memory rollout. */
async function setup(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-release-'));
  const stack = new MemoryStack();
  const ctx = await Context.resolve({ projectDir: dir, env: 'production' }, new Output({ json: true }), new AbortController().signal, { orchestrator: () => memoryOrchestrator(stack) });
  const rollout = ctx.orchestrator.rollout({ version: 'v2' } as Parameters<Orchestrator['rollout']>[0], await ctx.orchestrator.now());
  const held: { lock?: LockHandle } = {};
  const noop = (name: string): Step => ({ name, title: name, plan: () => name, run: async () => void stack.changes.push(name) });
  const smoke: Step = {
    name: 'smoke',
    title: 'smoke',
    plan: () => 'through the proxy',
    run: async () => {
      stack.changes.push('smoke');
      if (stack.proxy.some((v) => v !== rollout.expectedVersion())) throw new Error(`the proxy still reaches ${stack.proxy.join(',')}`);
    },
  };
  const steps = [noop('preflight'), noop('image'), lockStep(ctx, {}, 'deploy', 'v2', held), noop('backup'), ...rolloutSteps(rollout, smoke)];
  const end = closing(ctx, 'deploy', new Date(), 'v1', held, { version: 'v2', imageRef: 'shop-api:v2', image: () => undefined, replicas: () => rollout.replicas() });
  return { ctx, stack, steps, end, dir };
}

/** The same steps, with `name` failing right after it did its work. */
function failingAt(steps: Step[], name: string): Step[] {
  return steps.map((s) =>
    s.name === name
      ? {
          ...s,
          run: async (task) => {
            await s.run(task);
            throw new Error(`${name} failed`);
          },
        }
      : s,
  );
}

test('a release runs its steps in order, records the release, releases the lock', async (t) => {
  const { ctx, stack, steps, end, dir } = await setup();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const done = await runRelease(ctx.output, steps, end, new AbortController().signal);
  t.deepEqual(stack.changes.filter((c) => c !== 'lock'), ORDER.filter((n) => n !== 'lock'));
  t.deepEqual(stack.instances, ['v2', 'v2']);
  t.deepEqual(stack.proxy, ['v2', 'v2']);
  t.is(done.release?.result, 'success');
  t.is((await loadHistory(ctx.statePath('releases.json'))).releases.at(-1)?.version, 'v2');
  t.is((await readLock(ctx.statePath('deploy.lock'))).state, 'free');
});

for (const name of ORDER) {
  test(`a failure in "${name}" is undone: the lock is released and v1 serves as before`, async (t) => {
    const { ctx, stack, steps, end, dir } = await setup();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await t.throwsAsync(runRelease(ctx.output, failingAt(steps, name), end, new AbortController().signal), { message: new RegExp(`${name} failed`) });
    t.is((await readLock(ctx.statePath('deploy.lock'))).state, 'free', 'the deploy lock is released');
    // stop old is past the point of no return: the new version stays, as the rollout's undo says.
    const serving = name === 'stop old' ? 'v2' : 'v1';
    t.deepEqual(stack.proxy, [serving, serving], 'the proxy reaches the version that serves');
    t.true(stack.instances.every((v) => v === serving), `only ${serving} runs: ${stack.instances.join(',')}`);
    t.is(stack.changes.includes('undo'), ORDER.indexOf(name) >= ORDER.indexOf('inspect') && name !== 'stop old', 'the rollout is undone once it started');
    const history = await loadHistory(ctx.statePath('releases.json'));
    if (ORDER.indexOf(name) < ORDER.indexOf('lock')) {
      t.is(history.releases.length, 0, 'no lock taken: nothing changed, nothing recorded');
    } else {
      const started = ORDER.indexOf(name) >= ORDER.indexOf('start new');
      t.is(history.releases.at(-1)?.result, started && name !== 'stop old' ? 'rolled_back' : 'failed');
    }
  });
}

test('a dry-run lists every step in order and touches nothing', async (t) => {
  const { ctx, stack, steps, dir } = await setup();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const plan = planOf(steps, [['record', ctx.statePath('releases.json')]]);
  t.deepEqual(
    plan.map((p) => p.step),
    [...ORDER, 'record'],
  );
  t.deepEqual(stack.changes, []);
  t.deepEqual(stack.instances, ['v1', 'v1']);
  t.false(existsSync(ctx.statePath('deploy.lock')), 'no lock taken');
  t.false(existsSync(ctx.statePath('releases.json')), 'nothing recorded');
});
