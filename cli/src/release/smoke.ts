import type { Context } from '../context.js';
import { smokeCheck } from '../proxy.js';
import type { Rollout } from '../orchestrators/orchestrator.js';
import type { Step } from './pipeline.js';

/** Requests through the proxy, as a client makes them, before the old version is retired. */
export function smokeStep(ctx: Context, rollout: Rollout): Step {
  return {
    name: 'smoke',
    title: 'Smoke-check through nginx',
    plan: () => 'GET /health/ready and /health through the proxy, expecting the new version',
    run: async (task) => {
      const smoke = await smokeCheck(ctx, rollout.expectedVersion(), 6, { sideBySide: rollout.sideBySide?.() ?? false });
      task.title = `Smoke check passed: ${smoke.requests} requests through nginx${smoke.version ? `, version ${smoke.version}` : ''}`;
    },
  };
}
