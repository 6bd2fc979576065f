import type Docker from 'dockerode';
import type { Duplex, Readable } from 'node:stream';
import { ShopctlError } from '../errors.js';
import { sleep } from '../time.js';

export interface ExecOptions {
  user?: string | undefined;
  /** `KEY=value` entries; the Engine passes them to the process only (not visible in `docker inspect`). */
  env?: string[] | undefined;
  workingDir?: string | undefined;
  /** Fed to the process's stdin, then stdin is closed. */
  stdin?: Readable | Buffer | string | undefined;
  /** Receives stdout chunks as they arrive, with backpressure; when absent stdout is collected. */
  onStdout?: ((chunk: Buffer) => void | Promise<void>) | undefined;
  /** The process may legitimately stop reading stdin early (pg_restore --list reads only the TOC). */
  stdinMayStopEarly?: boolean;
  /** Collected output is capped (the tail is kept) so a chatty command cannot exhaust memory. */
  maxBuffer?: number;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Reads Docker's multiplexed stream (Tty false): frames of an 8-byte header [stream, 0, 0, 0,
 * size BE32] and a payload. Pulls with `for await`, so a slow consumer pauses the socket.
 */
export async function demux(stream: AsyncIterable<Buffer>, onFrame: (kind: 'stdout' | 'stderr', payload: Buffer) => void | Promise<void>): Promise<void> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (buffer.length >= 8) {
      const size = buffer.readUInt32BE(4);
      if (buffer.length < 8 + size) break;
      const kind = buffer[0] === 2 ? 'stderr' : 'stdout';
      const payload = buffer.subarray(8, 8 + size);
      buffer = buffer.subarray(8 + size);
      await onFrame(kind, payload);
    }
  }
  if (buffer.length > 0) throw new Error(`exec output ended inside a frame (${buffer.length} bytes left)`);
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.max && this.chunks.length > 1) this.size -= this.chunks.shift()?.length ?? 0;
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

/** `docker exec` through the Engine API: exit code from exec.inspect(), output demultiplexed. */
export async function execIn(docker: Docker, containerId: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const container = docker.getContainer(containerId);
  const exec = await container.exec({
    Cmd: [...cmd],
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: opts.stdin !== undefined,
    Tty: false,
    User: opts.user,
    Env: opts.env,
    WorkingDir: opts.workingDir,
  });
  const socket = (await exec.start({ hijack: true, stdin: opts.stdin !== undefined, Tty: false })) as unknown as Duplex;
  const stdout = new Tail(opts.maxBuffer ?? 4 * 1024 * 1024);
  const stderr = new Tail(64 * 1024);

  let timer: NodeJS.Timeout | undefined;
  let abortReason: string | undefined;
  const abort = (reason: string) => {
    abortReason = reason;
    socket.destroy();
  };
  if (opts.timeoutMs) timer = setTimeout(() => abort(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
  const onAbort = () => abort('interrupted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  // A process that exits without reading all of stdin (pg_restore on a bad header) breaks the pipe:
  // keep the error aside and let the exit code and stderr tell the story.
  const feeding = feedStdin(socket, opts.stdin).then(
    () => undefined,
    (error: unknown) => error,
  );
  let streamError: unknown;
  try {
    await demux(socket as AsyncIterable<Buffer>, async (kind, payload) => {
      if (kind === 'stderr') stderr.push(payload);
      else if (opts.onStdout) await opts.onStdout(payload);
      else stdout.push(payload);
    });
  } catch (error) {
    if (abortReason) throw new ShopctlError(`${cmd.join(' ')} in container ${containerId.slice(0, 12)} ${abortReason}`, { cause: error });
    streamError = error;
    socket.destroy();
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const feedError = await feeding;
  let exitCode: number;
  try {
    exitCode = await exitCodeOf(exec);
  } catch (error) {
    throw streamError ?? feedError ?? error;
  }
  if (exitCode === 0 && (streamError || (feedError && !opts.stdinMayStopEarly))) throw streamError ?? feedError;
  return { exitCode, stdout: stdout.toString(), stderr: stderr.toString() };
}

async function feedStdin(socket: Duplex, input: ExecOptions['stdin']): Promise<void> {
  if (input === undefined) return;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    socket.end(input);
    return;
  }
  for await (const chunk of input) {
    if (!socket.write(chunk)) await new Promise<void>((resolve, reject) => {
      // Both listeners go once either fires: a long stream must not pile up 'close' listeners.
      const onDrain = () => {
        socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        socket.off('drain', onDrain);
        reject(new Error('the container closed stdin before all input was written'));
      };
      socket.once('drain', onDrain);
      socket.once('close', onClose);
    });
  }
  // Half-close: the process sees EOF on stdin while we keep reading its output.
  socket.end();
}

/** The stream can end a moment before the Engine records the exit code: poll briefly. */
async function exitCodeOf(exec: Docker.Exec): Promise<number> {
  for (let i = 0; i < 100; i += 1) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await sleep(20);
  }
  throw new Error('exec did not report an exit code');
}

/** Runs and throws with stderr when the command exits non-zero. */
export async function execChecked(docker: Docker, containerId: string, cmd: readonly string[], what: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const result = await execIn(docker, containerId, cmd, opts);
  if (result.exitCode !== 0) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-10).join('\n');
    throw new ShopctlError(`${what} failed (exit code ${result.exitCode})`, { detail: detail || undefined });
  }
  return result;
}
