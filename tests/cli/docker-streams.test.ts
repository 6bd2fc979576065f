import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { demux } from '../../cli/src/docker/exec.js';
import { extractFirstFile } from '../../cli/src/docker/archive.js';
import { demuxBuffer } from '../../cli/src/docker/health.js';

function frame(kind: 1 | 2, payload: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = kind;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
}

async function* chunks(buffer: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

test('demultiplexes frames split anywhere across chunks', async (t) => {
  const stream = Buffer.concat([frame(1, 'hello '), frame(2, 'warning\n'), frame(1, 'world'), frame(1, '')]);
  for (const size of [1, 3, 7, 8, 9, 1000]) {
    const out = { stdout: '', stderr: '' };
    await demux(chunks(stream, size), (kind, payload) => {
      out[kind] += payload.toString();
    });
    t.deepEqual(out, { stdout: 'hello world', stderr: 'warning\n' }, `chunk size ${size}`);
  }
});

test('a stream that ends inside a frame is an error, not silently short output', async (t) => {
  const cut = Buffer.concat([frame(1, 'complete'), frame(1, 'truncated payload')]).subarray(0, 30);
  await t.throwsAsync(demux(chunks(cut, 4), () => undefined), { message: /ended inside a frame/ });
});

test('log buffers: demultiplexed unless the container has a TTY', (t) => {
  t.is(demuxBuffer(Buffer.concat([frame(1, 'a\n'), frame(2, 'b\n')])), 'a\nb\n');
  t.is(demuxBuffer(Buffer.from('raw tty text'), true), 'raw tty text');
});

test('extracts the first regular file of a tar stream (pax headers and long names included)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-tar-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const content = randomBytes(70_001);
  const longName = `${'d'.repeat(120)}.rdb`;
  await writeFile(join(dir, longName), content);
  for (const format of ['gnu', 'pax', 'ustar']) {
    const name = format === 'ustar' ? 'dump.rdb' : longName;
    if (format === 'ustar') await writeFile(join(dir, name), content);
    const tar = execFileSync('tar', ['-C', dir, `--format=${format}`, '-cf', '-', name]);
    for (const size of [100, 512, 4096, 1 << 20]) {
      const parts: Buffer[] = [];
      const r = await extractFirstFile(chunks(tar, size), (c) => {
        parts.push(Buffer.from(c));
      });
      t.is(r?.size, content.length, `${format}/${size}`);
      t.true(Buffer.concat(parts).equals(content), `${format}/${size}`);
    }
  }
});

test('a truncated archive is an error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-tar-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'dump.rdb'), randomBytes(5000));
  const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'dump.rdb']).subarray(0, 2048);
  await t.throwsAsync(extractFirstFile(chunks(tar, 512), () => undefined), { message: /ended early/ });
});
