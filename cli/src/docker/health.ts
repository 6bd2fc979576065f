import type Docker from 'dockerode';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatDuration, sleep } from '../time.js';
import { displayName, shortId } from './containers.js';

export type HealthState = 'healthy' | 'starting' | 'unhealthy' | 'running' | 'exited' | 'restarting' | 'missing' | 'created' | 'paused' | 'dead' | 'completed';

/** One word per container: Docker's health when it has a check, its state otherwise. */
export function healthOf(info: Docker.ContainerInspectInfo): HealthState {
  const s = info.State;
  if (s.Restarting) return 'restarting';
  if (!s.Running) return (s.Status as HealthState) ?? 'exited';
  const health = (s as { Health?: { Status?: string } }).Health?.Status;
  if (health === 'healthy' || health === 'starting' || health === 'unhealthy') return health;
  return 'running';
}

/** Demultiplexes a logs buffer (Tty false) into text; a TTY container's buffer is already text. */
export function demuxBuffer(buffer: Buffer, tty = false): string {
  if (tty) return buffer.toString('utf8');
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

export async function lastLogLines(docker: Docker, id: string, lines = 30): Promise<string> {
  try {
    const container = docker.getContainer(id);
    const info = await container.inspect();
    const buffer = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false, timestamps: false })) as unknown as Buffer;
    return demuxBuffer(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)), info.Config.Tty).trimEnd();
  } catch (error) {
    return `(logs unavailable: ${(error as Error).message})`;
  }
}

/** What Docker recorded from the last health probes: exit code and output of each. */
export function healthLog(info: Docker.ContainerInspectInfo, entries = 3): string {
  const log = (info.State as { Health?: { Log?: Array<{ ExitCode: number; Output: string; End: string }> } }).Health?.Log ?? [];
  return log
    .slice(-entries)
    .map((l) => `[${l.End?.slice(11, 19) ?? '?'}] exit ${l.ExitCode}: ${l.Output.trim().split('\n').slice(-5).join(' | ') || '(no output)'}`)
    .join('\n');
}

/** A failure report naming the container, its state, its health probes and its last log lines (Kamal #1041). */
export async function describeFailure(docker: Docker, id: string, logLines = 20): Promise<string> {
  let info: Docker.ContainerInspectInfo;
  try {
    info = await docker.getContainer(id).inspect();
  } catch {
    return `container ${shortId(id)} no longer exists`;
  }
  const state = healthOf(info);
  const parts = [`${displayName(info)} (${shortId(id)}, image ${info.Config.Image}) is ${state}`];
  if (!info.State.Running) parts.push(`exit code ${info.State.ExitCode}${info.State.Error ? `, error: ${info.State.Error}` : ''}${info.State.OOMKilled ? ', killed by the OOM killer (raise mem_limit?)' : ''}`);
  if (info.RestartCount > 0) parts.push(`restarted ${info.RestartCount} times`);
  const probes = healthLog(info);
  if (probes) parts.push(`health check output:\n${indent(probes)}`);
  parts.push(`last ${logLines} log lines:\n${indent(await lastLogLines(docker, id, logLines))}`);
  return parts.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  signal?: AbortSignal | undefined;
  onProgress?: (states: Array<{ id: string; name: string; state: HealthState }>) => void;
  /** Containers without a HEALTHCHECK count as ready when running (default). */
  acceptRunningWithoutCheck?: boolean;
  /** One-shot helpers (e.g. a certificate maker) that exit 0 by design count as done. */
  completedOk?: (info: Docker.ContainerInspectInfo) => boolean;
}

/** A container that ran to completion successfully and is not meant to restart. */
export function exitedCleanly(info: Docker.ContainerInspectInfo): boolean {
  return !info.State.Running && info.State.Status === 'exited' && info.State.ExitCode === 0 && (info.HostConfig.RestartPolicy?.Name ?? 'no') in { no: 1, '': 1, 'on-failure': 1 };
}

/**
 * Waits until every container is healthy. Fails at once when one exits, restarts or turns
 * unhealthy, and at the deadline; the error carries describeFailure() of the culprit.
 */
export async function waitHealthy(docker: Docker, ids: readonly string[], opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const started = Date.now();
  for (;;) {
    if (opts.signal?.aborted) throw new ShopctlError('Interrupted while waiting for containers to become healthy', { exitCode: ExitCode.INTERRUPTED });
    const infos = await Promise.all(ids.map((id) => docker.getContainer(id).inspect()));
    const states = infos.map((info) => ({ id: info.Id, name: displayName(info), state: opts.completedOk?.(info) ? ('completed' as HealthState) : healthOf(info) }));
    opts.onProgress?.(states);
    const bad = states.find((s) => ['unhealthy', 'exited', 'dead', 'restarting'].includes(s.state));
    if (bad) {
      throw new ShopctlError(`${bad.name} became ${bad.state} after ${formatDuration(Date.now() - started)}`, {
        exitCode: ExitCode.UNHEALTHY,
        detail: await describeFailure(docker, bad.id),
        details: { container: bad.id, state: bad.state },
      });
    }
    const ready = states.every((s) => s.state === 'healthy' || s.state === 'completed' || (s.state === 'running' && (opts.acceptRunningWithoutCheck ?? true)));
    if (ready) return;
    if (Date.now() >= deadline) {
      const waiting = states.filter((s) => !['healthy', 'running', 'completed'].includes(s.state));
      const reports = await Promise.all(waiting.map((s) => describeFailure(docker, s.id)));
      throw new ShopctlError(`Not healthy within ${formatDuration(opts.timeoutMs)}: ${waiting.map((s) => `${s.name} (${s.state})`).join(', ')}`, {
        exitCode: ExitCode.UNHEALTHY,
        detail: reports.join('\n'),
        hint: 'Raise --timeout if the service is just slow to start; otherwise the output above says why it is not healthy.',
      });
    }
    await sleep(opts.pollMs ?? 500);
  }
}
