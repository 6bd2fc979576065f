// Off-host copies against a real S3-compatible server (s3rver on a free localhost port, data in a
// temp dir) through the real AWS SDK: encrypted upload, no plaintext in the stored objects,
// download + decrypt round-trip, wrong key and tampered objects refused, remote retention.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import S3rver from 's3rver';
import { BackupStore, type StoreSettings } from '../../cli/src/backup/store.js';
import { applyRemoteRetention, chooseRemoteBase, downloadBaseBackup, downloadWal, remoteBaseBackups, uploadBackups, type WalArchive } from '../../cli/src/backup/offsite.js';
import { decryptStream, encryptStream, loadKey, parseKey } from '../../cli/src/backup/crypt.js';
import { checkBaseChecksum, listBaseBackups } from '../../cli/src/backup/base.js';
import { formatChecksumLine } from '../../cli/src/state/backup-files.js';
import { segmentName } from '../../cli/src/backup/wal.js';
import { ShopctlError } from '../../cli/src/errors.js';
import { ExitCode } from '../../cli/src/exit-codes.js';
import { sha256File } from '../../cli/src/backup/dump.js';

const MARKER = 'CREATE TABLE orders_marker_7f3a';
const EMAIL = 'ada.lovelace+offsite@example.org';
const BUCKET = 'shop-backups';

interface World {
  dir: string;
  s3dir: string;
  server: S3rver;
  settings: StoreSettings;
  store: BackupStore;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Plaintext with the marker and e-mail address spread through it, `size` bytes. */
function plaintext(size: number): Buffer {
  const line = Buffer.from(`${MARKER} (id serial); INSERT INTO customers VALUES ('${EMAIL}');\n`);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += line.length) line.copy(b, i);
  return b;
}

async function world(t: { teardown: (fn: () => Promise<void>) => void }): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-offsite-'));
  const s3dir = join(dir, 's3');
  await mkdir(s3dir);
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = (await server.run()) as { port: number };
  const keyFile = join(dir, 'backup.key');
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const settings: StoreSettings = {
    bucket: BUCKET,
    prefix: 'shop/',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    keyFile,
    always: false,
  };
  const store = await BackupStore.open(settings);
  t.teardown(async () => {
    store.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, s3dir, server, settings, store };
}

/** A base backup set as `shopctl backup --physical` leaves it (the tar is opaque bytes here). */
async function fakeBase(backupDir: string, stem: string, finishedAt: string, startSeg: number, tarBytes: Buffer): Promise<void> {
  const dir = join(backupDir, 'base');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${stem}.tar`), tarBytes);
  await writeFile(join(dir, `${stem}.tar.sha256`), formatChecksumLine(await sha256File(join(dir, `${stem}.tar`)), `${stem}.tar`));
  await writeFile(join(dir, `${stem}.backup_manifest`), '{"PostgreSQL-Backup-Manifest-Version": 1}\n');
  const startLsn = `0/${(startSeg * 0x1000000 + 0x28).toString(16).toUpperCase()}`;
  await writeFile(join(dir, `${stem}.json`), JSON.stringify({ kind: 'base', file: `${stem}.tar`, finishedAt, startLsn, stopLsn: startLsn, startWal: segmentName(1, startSeg), timeline: 1 }));
}

function memoryArchive(files: Map<string, Buffer>): WalArchive {
  return {
    list: async () => [...files.keys()],
    read: async (n) => files.get(n) as Buffer,
    write: async (n, data) => {
      if (files.has(n)) throw new Error(`${n} exists`);
      files.set(n, data);
    },
  };
}

test('upload encrypts on this host: no plaintext in the store, and a restore gets every byte back after checking it', async (t) => {
  const w = await world(t);
  const backupDir = join(w.dir, 'backups');
  await mkdir(backupDir);
  const tar = plaintext(6 * 1024 * 1024 + 12345); // > 5 MB: a multipart upload
  await fakeBase(backupDir, 'shop-20261201T031700Z', '2026-12-01T03:17:30.000Z', 3, tar);
  await writeFile(join(backupDir, 'shop-20261201T031700Z.dump'), plaintext(200_000));
  await writeFile(join(backupDir, 'shop-20261201T031700Z.dump.sha256'), formatChecksumLine(await sha256File(join(backupDir, 'shop-20261201T031700Z.dump')), 'shop-20261201T031700Z.dump'));
  await writeFile(join(backupDir, 'shop-20261201T031700Z.json'), JSON.stringify({ customer: EMAIL }));
  const wal = new Map([3, 4, 5].map((n) => [segmentName(1, n), plaintext(64 * 1024)] as [string, Buffer]));

  const steps: string[] = [];
  const up = await uploadBackups(w.store, { backupDir, wal: memoryArchive(wal) }, (s) => steps.push(s));
  t.like(up, { wal: 3, base: ['shop-20261201T031700Z'], dumps: ['shop-20261201T031700Z.dump'], objects: 10 });
  t.true(steps.some((s) => s.startsWith('uploading WAL')), 'progress lines name what is uploaded');

  // Everything s3rver stored on disk (objects and their metadata): no marker, no e-mail address.
  const stored = await walkFiles(w.s3dir);
  t.true(stored.length >= 10);
  for (const f of stored) {
    const bytes = await readFile(f);
    t.false(bytes.includes(MARKER), `${f} contains the SQL marker`);
    t.false(bytes.includes(EMAIL), `${f} contains the e-mail address`);
  }

  // A second upload finds nothing new.
  t.like(await uploadBackups(w.store, { backupDir, wal: memoryArchive(wal) }), { wal: 0, base: [], dumps: [], objects: 0 });

  // Local copies gone: the base backup and the WAL come back from the store, checked.
  const restoreDir = join(w.dir, 'restored');
  const remote = await remoteBaseBackups(w.store);
  const chosen = chooseRemoteBase(remote, {});
  t.is(chosen.stem, 'shop-20261201T031700Z');
  await downloadBaseBackup(w.store, restoreDir, chosen.stem);
  const [local] = await listBaseBackups({ backupDir: restoreDir } as never);
  t.truthy(local);
  await checkBaseChecksum(local as never);
  t.true((await readFile(join(restoreDir, 'base', 'shop-20261201T031700Z.tar'))).equals(tar));
  const archive = new Map<string, Buffer>([[segmentName(1, 3), wal.get(segmentName(1, 3)) as Buffer]]);
  t.is(await downloadWal(w.store, memoryArchive(archive), 3), 2);
  for (const [n, data] of wal) t.true(archive.get(n)?.equals(data), `${n} round-trips`);
});

test('the wrong key is named as such, a tampered or truncated object fails authentication (exit 8), and nothing is left behind', async (t) => {
  const w = await world(t);
  await w.store.put('dumps/shop-20261201T031700Z.dump', Readable.from([plaintext(300_000)]));
  const objectFile = (await walkFiles(w.s3dir)).find((f) => f.endsWith('._S3rver_object')) as string;
  t.truthy(objectFile);

  const otherKey = join(w.dir, 'other.key');
  await writeFile(otherKey, randomBytes(32), { mode: 0o600 });
  const other = new BackupStore(w.settings, await loadKey(otherKey));
  t.teardown(() => other.destroy());
  const target = join(w.dir, 'out.dump');
  const wrong = await t.throwsAsync(other.getToFile('dumps/shop-20261201T031700Z.dump', target), { instanceOf: ShopctlError });
  t.regex(wrong?.message ?? '', /Authentication failed .* encrypted with another key \(key id [0-9a-f]{16}/);
  t.is((wrong as ShopctlError).exitCode, ExitCode.INTEGRITY);
  t.deepEqual((await readdir(w.dir)).filter((n) => n.includes('out.dump')), [], 'no partial file left');

  const original = await readFile(objectFile);
  const flipped = Buffer.from(original);
  const at = flipped.length - 70_000;
  flipped[at] = (flipped[at] ?? 0) ^ 1;
  await writeFile(objectFile, flipped);
  const altered = await t.throwsAsync(w.store.getToFile('dumps/shop-20261201T031700Z.dump', target), { instanceOf: ShopctlError });
  t.regex(altered?.message ?? '', /Authentication failed .*altered/);
  t.is((altered as ShopctlError).exitCode, ExitCode.INTEGRITY);

  // Cut at a chunk boundary: only the missing last-chunk flag can tell.
  await writeFile(objectFile, original.subarray(0, 23 + 2 * (64 * 1024 + 16)));
  const truncated = await t.throwsAsync(w.store.getToFile('dumps/shop-20261201T031700Z.dump', target), { instanceOf: ShopctlError });
  t.regex(truncated?.message ?? '', /Authentication failed .*truncated/);
  t.deepEqual((await readdir(w.dir)).filter((n) => n.includes('out.dump')), []);

  await writeFile(objectFile, original);
  await w.store.getToFile('dumps/shop-20261201T031700Z.dump', target);
  t.true((await readFile(target)).equals(plaintext(300_000)));
});

test('remote retention keeps what the local rules keep, and the WAL the oldest kept base backup needs', async (t) => {
  const w = await world(t);
  const backupDir = join(w.dir, 'backups');
  await mkdir(backupDir);
  const days = ['20261127', '20261128', '20261129', '20261130', '20261201'];
  for (const [i, d] of days.entries()) {
    await fakeBase(backupDir, `shop-${d}T031700Z`, `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}T03:17:30.000Z`, 10 * (i + 1), Buffer.from(`tar ${d}`));
    await writeFile(join(backupDir, `shop-${d}T031700Z.dump`), `dump ${d}`);
  }
  const wal = new Map(Array.from({ length: 50 }, (_, i) => [segmentName(1, i + 5), Buffer.from(`wal ${i}`)] as [string, Buffer]));
  wal.set('00000002.history', Buffer.from('1\t0/3000000\tno recovery target specified\n'));
  await uploadBackups(w.store, { backupDir, wal: memoryArchive(wal) });

  const r = await applyRemoteRetention(w.store, { daily: 2, weekly: 0, monthly: 0 });
  t.deepEqual([...r.base.removed].sort(), ['shop-20261127T031700Z', 'shop-20261128T031700Z', 'shop-20261129T031700Z']);
  t.deepEqual(r.base.kept.sort(), ['shop-20261130T031700Z', 'shop-20261201T031700Z']);
  t.deepEqual([...r.dumps.removed].sort(), ['shop-20261127T031700Z.dump', 'shop-20261128T031700Z.dump', 'shop-20261129T031700Z.dump']);
  // The oldest kept base backup starts at segment 40: segments 5..39 go.
  t.is(r.walRemoved, 35);
  const left = (await w.store.list('wal')).map((o) => o.name).sort();
  t.true(left.includes('wal/00000002.history'), 'timeline history files stay');
  t.is(left[0], `wal/${segmentName(1, 40)}`);
  t.is(left.length, 1 + 15);
  t.deepEqual((await remoteBaseBackups(w.store)).map((b) => b.stem), ['shop-20261130T031700Z', 'shop-20261201T031700Z']);
  t.is((await w.store.list('base')).length, 8, 'no orphaned parts of removed base backups');
});

test('the stream format: any size round-trips, the key comes in the forms openssl writes, a loose key file is refused', async (t) => {
  const key = parseKey(randomBytes(32), 'raw');
  for (const size of [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024]) {
    const input = randomBytes(size);
    const chunks: Buffer[] = [];
    for await (const c of Readable.from([input.subarray(0, size >> 1), input.subarray(size >> 1)]).pipe(encryptStream(key)).pipe(decryptStream(key, 'test'))) chunks.push(c as Buffer);
    t.true(Buffer.concat(chunks).equals(input), `${size} bytes`);
  }
  const hex = randomBytes(32).toString('hex');
  t.is(parseKey(Buffer.from(`${hex}\n`), 'f').key.toString('hex'), hex);
  t.is(parseKey(Buffer.from(`${Buffer.from(hex, 'hex').toString('base64')}\n`), 'f').key.toString('hex'), hex);
  t.throws(() => parseKey(Buffer.from('too short\n'), 'f'), { message: /not 32 bytes/ });
  const dir = await mkdtemp(join(tmpdir(), 'shopctl-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'k'), hex);
  await chmod(join(dir, 'k'), 0o644);
  await t.throwsAsync(loadKey(join(dir, 'k')), { message: /readable by others/ });
});
