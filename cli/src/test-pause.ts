/**
 * TEST ONLY. SHOPCTL_TEST_PAUSE_AT_STEP=N makes deploy, rollback and restore stop before their
 * Nth step (counting from 1 the steps that run) and wait there until the process is signalled:
 * the fault-injection suite (tests/faults) interrupts shopctl at each step this way. It changes
 * nothing else; never set it outside that suite.
 */
export const TEST_PAUSE_VARIABLE = 'SHOPCTL_TEST_PAUSE_AT_STEP';

/** The step to pause before, or undefined (the variable is unset or not a positive integer). */
export function testPauseStep(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[TEST_PAUSE_VARIABLE];
  if (!raw || !/^[1-9]\d*$/.test(raw)) return undefined;
  return Number(raw);
}

/** Before step `index` (1-based) named `name`: waits until `signal` aborts when the test asked to pause here, then throws its reason. */
export async function pauseForTest(index: number, name: string, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (testPauseStep(env) !== index) return;
  process.stderr.write(`shopctl: test pause before step ${index} (${name}), pid ${process.pid}\n`);
  // A timer keeps the process alive: a pending promise alone does not, and Node would exit (code 13).
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  }).finally(() => clearInterval(keepAlive));
  throw signal.reason;
}
