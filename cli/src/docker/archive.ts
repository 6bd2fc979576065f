import type Docker from 'dockerode';
import { ShopctlError } from '../errors.js';

/**
 * Streams one regular file out of a container with GET /containers/{id}/archive (works on
 * stopped containers and images without a shell). The Engine answers with a tar stream: this
 * reads its 512-byte headers (ustar, with pax/GNU long-name records skipped) and hands the
 * first regular file's bytes to `onData`, pulling with backpressure.
 */
export async function copyFileOut(docker: Docker, containerId: string, path: string, onData: (chunk: Buffer) => void | Promise<void>): Promise<{ size: number; name: string }> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getContainer(containerId).getArchive({ path });
  } catch (error) {
    throw new ShopctlError(`Cannot read ${path} from container ${containerId.slice(0, 12)}: ${(error as Error).message}`);
  }
  const result = await extractFirstFile(stream as AsyncIterable<Buffer>, onData);
  if (!result) throw new ShopctlError(`${path} in container ${containerId.slice(0, 12)} is not a regular file`);
  return result;
}

/** The first regular file of a tar stream, handed out in chunks; undefined when the archive has none. */
export async function extractFirstFile(stream: AsyncIterable<Buffer>, onData: (chunk: Buffer) => void | Promise<void>): Promise<{ size: number; name: string } | undefined> {
  let buffer: Buffer = Buffer.alloc(0);
  let result: { size: number; name: string } | undefined;
  let remaining = 0;
  let padding = 0;
  let skipping = false;
  let done = false;
  for await (const raw of stream) {
    buffer = buffer.length === 0 ? raw : Buffer.concat([buffer, raw]);
    while (!done) {
      if (remaining > 0) {
        if (buffer.length === 0) break;
        const take = Math.min(remaining, buffer.length);
        if (!skipping) await onData(buffer.subarray(0, take));
        buffer = buffer.subarray(take);
        remaining -= take;
        if (remaining > 0) break;
        if (!skipping && result) done = true;
      }
      if (padding > 0) {
        const take = Math.min(padding, buffer.length);
        buffer = buffer.subarray(take);
        padding -= take;
        if (padding > 0) break;
      }
      if (done || buffer.length < 512) break;
      const header = buffer.subarray(0, 512);
      buffer = buffer.subarray(512);
      if (header.every((b) => b === 0)) {
        done = true;
        break;
      }
      const size = parseOctal(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] ?? 0);
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      remaining = size;
      padding = (512 - (size % 512)) % 512;
      // pax ('x', 'g') and GNU long-name ('L', 'K') records precede the entry they describe.
      skipping = !(type === '0' || type === '\0');
      if (!skipping) result = { size, name };
      if (size === 0 && !skipping) done = true;
    }
    if (done) break;
  }
  if (result && remaining > 0 && !skipping) throw new ShopctlError(`The archive ended early (${remaining} bytes of ${result.name} missing)`);
  return result;
}

function parseOctal(field: Buffer): number {
  // GNU base-256 encoding for sizes over 8 GiB: high bit set in the first byte.
  if ((field[0] ?? 0) & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i += 1) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field.toString('ascii').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}
