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
