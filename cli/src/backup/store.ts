import { readFile, rename, rm, open } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { decryptStream, encryptStream, loadKey, type BackupKey } from './crypt.js';

/** Where off-host copies go, from the environment or the env file (every secret also as NAME_FILE). */
export interface StoreSettings {
  bucket: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** '' when BACKUP_ENCRYPTION_KEY_FILE is not set: opening the store then refuses. */
  keyFile: string;
  /** BACKUP_UPLOAD=always: every `shopctl backup` uploads as if given --upload. */
  always: boolean;
}

type Lookup = (name: string) => string | undefined;

async function secret(lookup: Lookup, name: string, baseDir: string): Promise<string | undefined> {
  const direct = lookup(name);
  if (direct) return direct;
  const file = lookup(`${name}_FILE`);
  if (!file) return undefined;
  try {
    return (await readFile(isAbsolute(file) ? file : join(baseDir, file), 'utf8')).trim();
  } catch (error) {
    throw new ShopctlError(`${name}_FILE ${file} cannot be read: ${messageOf(error)}`, { exitCode: ExitCode.PREFLIGHT });
  }
}

/** The store settings, or undefined when BACKUP_S3_BUCKET is not set (no off-host copies configured). */
export async function storeSettings(lookup: Lookup, baseDir: string): Promise<StoreSettings | undefined> {
  const bucket = lookup('BACKUP_S3_BUCKET');
  if (!bucket) return undefined;
  const keyFile = lookup('BACKUP_ENCRYPTION_KEY_FILE') ?? '';
  const accessKeyId = await secret(lookup, 'AWS_ACCESS_KEY_ID', baseDir);
  const secretAccessKey = await secret(lookup, 'AWS_SECRET_ACCESS_KEY', baseDir);
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) throw new ShopctlError('Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), or neither', { exitCode: ExitCode.PREFLIGHT });
  const rawPrefix = (lookup('BACKUP_S3_PREFIX') ?? '').replace(/^\/+|\/+$/g, '');
  const always = (lookup('BACKUP_UPLOAD') ?? '').toLowerCase();
  if (always !== '' && always !== 'always' && always !== 'never') throw new ShopctlError(`BACKUP_UPLOAD=${always}: expected always or never`, { exitCode: ExitCode.PREFLIGHT });
  return {
    bucket,
    prefix: rawPrefix ? `${rawPrefix}/` : '',
    endpoint: lookup('BACKUP_S3_ENDPOINT'),
    region: lookup('BACKUP_S3_REGION') ?? lookup('AWS_REGION') ?? 'us-east-1',
    forcePathStyle: /^(1|true|yes)$/i.test(lookup('BACKUP_S3_FORCE_PATH_STYLE') ?? ''),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    keyFile: keyFile === '' || isAbsolute(keyFile) ? keyFile : join(baseDir, keyFile),
    always: always === 'always',
  };
}

export interface RemoteObject {
  /** Key relative to the prefix, without `.enc`: `base/shop-20261127T031700Z.tar`, `wal/000000010000000000000003`. */
  name: string;
  size: number;
}

/** An S3-compatible bucket holding encrypted copies; names are relative to the prefix and never carry `.enc`. */
export class BackupStore {
  readonly client: S3Client;
  constructor(
    readonly settings: StoreSettings,
    readonly key: BackupKey,
  ) {
    const config: S3ClientConfig = { region: settings.region, forcePathStyle: settings.forcePathStyle, maxAttempts: 3 };
    if (settings.endpoint) config.endpoint = settings.endpoint;
    if (settings.credentials) config.credentials = settings.credentials;
    this.client = new S3Client(config);
  }

  static async open(settings: StoreSettings): Promise<BackupStore> {
    if (!settings.keyFile) {
      throw new ShopctlError('BACKUP_S3_BUCKET is set but BACKUP_ENCRYPTION_KEY_FILE is not: copies leave this host only encrypted', {
        exitCode: ExitCode.PREFLIGHT,
        hint: 'openssl rand -hex 32 > secrets/backup_encryption_key && chmod 600 secrets/backup_encryption_key, then BACKUP_ENCRYPTION_KEY_FILE=./secrets/backup_encryption_key in the env file (keep a copy of the key off this host).',
      });
    }
    return new BackupStore(settings, await loadKey(settings.keyFile));
  }

  get label(): string {
    return `s3://${this.settings.bucket}/${this.settings.prefix}`;
  }

  private objectKey(name: string): string {
    return `${this.settings.prefix}${name}.enc`;
  }

  private fail(what: string, error: unknown): ShopctlError {
    if (error instanceof ShopctlError) return error;
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    return new ShopctlError(`${what} at ${this.label} failed: ${e.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${messageOf(error)}`, {
      exitCode: status === 404 || e.name === 'NoSuchKey' || e.name === 'NoSuchBucket' ? ExitCode.NOT_FOUND : ExitCode.FAILURE,
      hint: 'Check BACKUP_S3_BUCKET, BACKUP_S3_ENDPOINT and the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).',
    });
  }

  /** Every copy under `folder/` (e.g. `base`, `wal`, `dumps`). */
  async list(folder: string): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${this.settings.prefix}${folder}/`, ContinuationToken: token }));
        for (const o of r.Contents ?? []) {
          if (!o.Key?.endsWith('.enc')) continue;
          out.push({ name: o.Key.slice(this.settings.prefix.length, -'.enc'.length), size: o.Size ?? 0 });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.fail(`Listing ${folder}/`, error);
    }
    return out;
  }

  /** Encrypts `body` on this host while uploading it (multipart for large files). */
  async put(name: string, body: Readable): Promise<void> {
    const sealed = encryptStream(this.key);
    body.on('error', (e) => sealed.destroy(e));
    body.pipe(sealed);
    try {
      await new Upload({ client: this.client, params: { Bucket: this.settings.bucket, Key: this.objectKey(name), Body: sealed, ContentType: 'application/octet-stream' }, queueSize: 2 }).done();
    } catch (error) {
      body.destroy();
      throw this.fail(`Uploading ${name}`, error);
    }
  }

  /** Downloads and decrypts into `path` (via a temp file beside it, renamed only once authenticated). */
  async getToFile(name: string, path: string): Promise<void> {
    const tmp = join(path, '..', `.${path.split('/').at(-1)}.partial`);
    let body: Readable;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(name) }));
      body = r.Body as Readable;
    } catch (error) {
      throw this.fail(`Downloading ${name}`, error);
    }
    const fh = await open(tmp, 'w', 0o600);
    try {
      await pipeline(body, decryptStream(this.key, `${this.label}${name}.enc`), fh.createWriteStream());
      await fh.sync().catch(() => undefined);
    } catch (error) {
      await rm(tmp, { force: true });
      throw this.fail(`Downloading ${name}`, error);
    } finally {
      await fh.close().catch(() => undefined);
    }
    await rename(tmp, path);
  }

  /** Downloads and decrypts a small object into memory. */
  async getBuffer(name: string): Promise<Buffer> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(name) }));
      const chunks: Buffer[] = [];
      for await (const c of (r.Body as Readable).pipe(decryptStream(this.key, `${this.label}${name}.enc`))) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    } catch (error) {
      throw this.fail(`Downloading ${name}`, error);
    }
  }

  async remove(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 1000) {
      const batch = names.slice(i, i + 1000);
      try {
        const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: batch.map((n) => ({ Key: this.objectKey(n) })), Quiet: true } }));
        if (r.Errors?.length) throw new Error(r.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', '));
      } catch (error) {
        throw this.fail('Deleting expired copies', error);
      }
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
