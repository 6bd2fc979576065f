import type Docker from 'dockerode';
import { ShopctlError } from '../../errors.js';
import { displayName, inspectContainer } from '../../docker/containers.js';
import { execIn } from '../../docker/exec.js';

/**
 * How the proxy moves requests from the old api containers to the new ones. The rollout asks
 * this interface only, so another mechanism is one more implementation here, not edits in the
 * rollout.
 */
export interface TrafficSwitch {
  /** Lets the new containers take their share of the requests; the old ones keep theirs until they stop. */
  admit(newIds: readonly string[]): Promise<{ admitted: string[] }>;
}

/** What `node api/dist/cli/slots.js admit` prints. */
interface AdmitReport {
  host: string;
  owned: number;
  members: Array<{ host: string; version: string; slots: number }>;
}

/** The command inside the api image that admits its container to nginx's socket slots. */
export const ADMIT_COMMAND = ['node', 'api/dist/cli/slots.js', 'admit'] as const;

/**
 * nginx's socket slots (docs/stack.md, "How nginx follows the API replicas"): nginx connects to a
 * fixed set of Unix socket links, which the api replicas point at themselves. A new version's
 * containers stay out until admitted here, after their health check passed; stopping an old
 * container makes it hand its slots to the others first. nginx is never reloaded, so no client
 * connection is closed by a deploy.
 */
export function socketSlotSwitch(docker: Docker, opts: { timeoutMs: number }): TrafficSwitch {
  return {
    async admit(newIds) {
      const admitted: string[] = [];
      await Promise.all(
        newIds.map(async (id) => {
          const info = await inspectContainer(docker, id);
          const r = await execIn(docker, id, [...ADMIT_COMMAND, String(opts.timeoutMs)]);
          let report: AdmitReport | undefined;
          try {
            report = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as AdmitReport;
          } catch {
            report = undefined;
          }
          if (r.exitCode !== 0 || !report || report.owned < 1) {
            throw new ShopctlError(`${displayName(info)} did not take any of nginx's socket slots`, {
              detail: `${r.stderr}${r.stdout}`.trim() || undefined,
              hint: 'The api and proxy services must share the api-sockets volume at API_SOCKET_DIR (docker-compose.yml); the old containers keep serving.',
            });
          }
          admitted.push(`${displayName(info)} (${report.owned} slot${report.owned === 1 ? '' : 's'})`);
        }),
      );
      return { admitted };
    },
  };
}
