import test from 'ava';
import { pauseForTest, testPauseStep } from '../../cli/src/test-pause.js';

test('SHOPCTL_TEST_PAUSE_AT_STEP: only a positive integer pauses, and only at that step', (t) => {
  t.is(testPauseStep({}), undefined);
  t.is(testPauseStep({ SHOPCTL_TEST_PAUSE_AT_STEP: '0' }), undefined);
  t.is(testPauseStep({ SHOPCTL_TEST_PAUSE_AT_STEP: 'two' }), undefined);
  t.is(testPauseStep({ SHOPCTL_TEST_PAUSE_AT_STEP: '3' }), 3);
});

test('the pause waits until the signal aborts, then throws its reason; other steps pass at once', async (t) => {
  const env = { SHOPCTL_TEST_PAUSE_AT_STEP: '2' };
  const controller = new AbortController();
  await pauseForTest(1, 'lock', controller.signal, env);
  let settled = false;
  const paused = pauseForTest(2, 'image', controller.signal, env).finally(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.false(settled);
  controller.abort(new Error('interrupted by SIGINT'));
  await t.throwsAsync(paused, { message: 'interrupted by SIGINT' });
});

test('a paused process stays alive until it is signalled (nothing else keeps it running)', async (t) => {
  const { spawn } = await import('node:child_process');
  const script = `import { pauseForTest } from './cli/src/test-pause.ts';
    const c = new AbortController();
    process.on('SIGINT', () => c.abort(new Error('interrupted')));
    await pauseForTest(1, 'lock', c.signal, { SHOPCTL_TEST_PAUSE_AT_STEP: '1' }).catch(() => process.exit(130));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => child.stderr.on('data', (c: Buffer) => (stderr += c.toString()).includes('test pause before step 1') && resolve()));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(child.exitCode, null, 'still paused');
  child.kill('SIGINT');
  t.is(await exited, 130);
});
