import type Docker from 'dockerode';
import { ShopctlError, messageOf } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { SERVICE_ADDRESS, readUpstreamServers, replaceUpstreamServers, serverAddress } from '../../formats/upstream.js';
import { formatDuration } from '../../time.js';
import { displayName, inspectContainer, sharedNetworkIp } from '../../docker/containers.js';
import { readUpstreamFile, switchUpstream } from '../../docker/nginx.js';

/**
 * How the proxy moves requests from the old api containers to the new ones. The rollout asks
 * this interface only, so another mechanism (a proxy that re-resolves by itself, weighted
 * upstreams) is one more implementation here, not edits in the rollout.
 */
export interface TrafficSwitch {
  /** What the proxy is pointed at between deploys. */
  readonly serviceAddress: string;
  /** Sends new requests to `newIds` only; the old ones finish theirs. */
  switchTo(oldIds: readonly string[], newIds: readonly string[]): Promise<{ addresses: string[]; drainMs: number }>;
  /** Back to the old containers (undo after a failure). */
  switchBack(): Promise<string[]>;
  /** The proxy's configuration as it was before the switch (undo, last). */
  restore(): Promise<string[]>;
  /** After the old containers are gone: back to the service name if `check` passes; false when it stayed on the addresses. */
  settle(check: () => Promise<void>): Promise<boolean>;
}

interface SwitchOptions {
  drainTimeoutMs: number;
  signal?: AbortSignal | undefined;
  warn(message: string): void;
}

async function backendAddresses(docker: Docker, ids: readonly string[], proxy: Docker.ContainerInspectInfo): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const info = await inspectContainer(docker, id);
    const net = sharedNetworkIp(info, proxy);
    if (!net) throw new ShopctlError(`${displayName(info)} shares no network with the proxy`, { hint: 'api and proxy must both be on the backend network.' });
    out.push(serverAddress(net.ip, 8000));
  }
  return out;
}

/** nginx with an `upstream api { ... }` file rewritten in place and reloaded, old workers drained (docs/architecture.md). */
export async function nginxUpstreamSwitch(docker: Docker, proxyId: string, opts: SwitchOptions): Promise<TrafficSwitch> {
  const original = await readUpstreamFile(docker, proxyId);
  if (!readUpstreamServers(original)) {
    throw new ShopctlError('The proxy\'s upstream file has no "upstream api { ... }" block', { exitCode: ExitCode.PREFLIGHT, detail: original });
  }
  let oldAddresses: string[] = [];
  const write = async (content: string, previous: string, signal = opts.signal) => switchUpstream(docker, proxyId, content, previous, { drainTimeoutMs: opts.drainTimeoutMs, signal });
  return {
    serviceAddress: SERVICE_ADDRESS,
    async switchTo(oldIds, newIds) {
      const proxy = await inspectContainer(docker, proxyId);
      oldAddresses = await backendAddresses(docker, oldIds, proxy);
      const addresses = await backendAddresses(docker, newIds, proxy);
      const r = await write(replaceUpstreamServers(original, addresses), original);
      if (r.leftOver) opts.warn(`${r.leftOver} old nginx worker(s) still finishing requests after ${formatDuration(opts.drainTimeoutMs)}`);
      return { addresses, drainMs: r.drainMs };
    },
    async switchBack() {
      if (!oldAddresses.length) return [];
      const current = await readUpstreamFile(docker, proxyId);
      await write(replaceUpstreamServers(original || current, oldAddresses), current, undefined);
      return [`nginx switched back to the old containers (${oldAddresses.join(', ')})`];
    },
    async restore() {
      if (!original) return [];
      const current = await readUpstreamFile(docker, proxyId);
      await write(original, current, undefined);
      return ['nginx upstream restored as it was'];
    },
    async settle(check) {
      const content = replaceUpstreamServers(original, [SERVICE_ADDRESS]);
      const current = await readUpstreamFile(docker, proxyId);
      try {
        await write(content, current);
        await check();
        return true;
      } catch (error) {
        // The address list was verified a moment ago: go back to it rather than fail a finished deploy.
        await write(current, content);
        opts.warn(`kept the new containers' addresses in the nginx upstream: switching back to ${SERVICE_ADDRESS} failed (${messageOf(error)})`);
        return false;
      }
    },
  };
}

/**
 * Points nginx at the api containers as Docker DNS lists them now. Needed whenever api
 * containers were stopped and started again (restore): they may come back with other
 * addresses, and nginx 1.22 keeps the ones it resolved at its last reload.
 */
export async function refreshProxyUpstream(docker: Docker, proxyId: string, signal: AbortSignal, drainTimeoutMs = 30_000): Promise<void> {
  const current = await readUpstreamFile(docker, proxyId);
  await switchUpstream(docker, proxyId, replaceUpstreamServers(current, [SERVICE_ADDRESS]), current, { drainTimeoutMs, signal });
}
