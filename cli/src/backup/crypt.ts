import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { stat, readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';

/**
 * Encryption of off-host backup copies: AES-256-GCM in 64 KiB chunks (the STREAM construction
 * age and Tink use), so files of any size stream through in constant memory and a truncated,
 * reordered or altered object fails authentication. Layout:
 *
 *   header  "SHOPENC" 0x01 | key id (8) | nonce prefix (7)      = 23 bytes, authenticated with every chunk
 *   chunks  AES-256-GCM(chunk) | tag (16); nonce = prefix | counter (BE32) | last-chunk flag (1)
 *
 * The key id (a hash of the key, not the key) tells "another key" apart from "altered data".
 */

const MAGIC = Buffer.from('SHOPENC\x01', 'latin1');
const KEY_ID_BYTES = 8;
const PREFIX_BYTES = 7;
export const HEADER_BYTES = MAGIC.length + KEY_ID_BYTES + PREFIX_BYTES;
export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;

export interface BackupKey {
  key: Buffer;
  /** Hex of the key id: safe to print, names which key a copy needs. */
  id: string;
}

export function keyId(key: Buffer): Buffer {
  return createHash('sha256').update('shopctl backup key id\0').update(key).digest().subarray(0, KEY_ID_BYTES);
}

/** 32 bytes as raw bytes (`openssl rand 32`), 64 hex characters (`openssl rand -hex 32`) or base64 (`openssl rand -base64 32`). */
export function parseKey(content: Buffer, source: string): BackupKey {
  let key: Buffer | undefined;
  if (content.length === 32) key = content;
  else {
    const text = content.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  }
  if (key?.length !== 32) {
    throw new ShopctlError(`The backup encryption key in ${source} is not 32 bytes (raw, 64 hex characters or base64)`, { exitCode: ExitCode.PREFLIGHT, hint: `Create one with: openssl rand -hex 32 > ${source} && chmod 600 ${source}` });
  }
  return { key, id: keyId(key).toString('hex') };
}

/** Reads the key file; refuses one that others on the host can read (as ssh does). */
export async function loadKey(path: string): Promise<BackupKey> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new ShopctlError(`Backup encryption key file ${path} does not exist`, { exitCode: ExitCode.PREFLIGHT, hint: `Create it with: openssl rand -hex 32 > ${path} && chmod 600 ${path} (and keep a copy off this host: without it the copies cannot be read)` });
  }
  if ((info.mode & 0o077) !== 0) throw new ShopctlError(`Backup encryption key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)})`, { exitCode: ExitCode.PREFLIGHT, hint: `chmod 600 ${path}` });
  return parseKey(await readFile(path), path);
}

function nonce(prefix: Buffer, counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(counter, PREFIX_BYTES);
  n[11] = last ? 1 : 0;
  return n;
}

function sealChunk(key: Buffer, header: Buffer, counter: number, last: boolean, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce(header.subarray(MAGIC.length + KEY_ID_BYTES), counter, last));
  c.setAAD(header);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

/** A Transform: plaintext in, header + sealed chunks out. */
export function encryptStream(k: BackupKey): Transform {
  const header = Buffer.concat([MAGIC, keyId(k.key), randomBytes(PREFIX_BYTES)]);
  let pending: Buffer = Buffer.alloc(0);
  let counter = 0;
  let headerSent = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      // Keep at least one byte back: only the flush knows which chunk is the last.
      while (pending.length > CHUNK_BYTES) {
        this.push(sealChunk(k.key, header, counter, false, pending.subarray(0, CHUNK_BYTES)));
        counter += 1;
        pending = pending.subarray(CHUNK_BYTES);
      }
      done();
    },
    flush(done: TransformCallback) {
      if (!headerSent) this.push(header);
      this.push(sealChunk(k.key, header, counter, true, pending));
      done();
    },
  });
}

/** Why a copy cannot be decrypted: exit 8, like a checksum mismatch, with what to do next. */
function authFailure(what: string, reason: string, hint: string): ShopctlError {
  return new ShopctlError(`Authentication failed for ${what}: ${reason}`, { exitCode: ExitCode.INTEGRITY, hint });
}

/** A Transform: header + sealed chunks in, plaintext out; throws (exit 8) on another key, alteration or truncation. */
export function decryptStream(k: BackupKey, what: string): Transform {
  let header: Buffer | undefined;
  let pending: Buffer = Buffer.alloc(0);
  let counter = 0;
  const sealed = CHUNK_BYTES + TAG_BYTES;
  const open = (chunk: Buffer, last: boolean): Buffer => {
    const h = header as Buffer;
    const d = createDecipheriv('aes-256-gcm', k.key, nonce(h.subarray(MAGIC.length + KEY_ID_BYTES), counter, last));
    d.setAAD(h);
    d.setAuthTag(chunk.subarray(chunk.length - TAG_BYTES));
    try {
      return Buffer.concat([d.update(chunk.subarray(0, chunk.length - TAG_BYTES)), d.final()]);
    } catch {
      throw authFailure(what, last ? 'the data was altered or truncated' : 'the data was altered', 'Nothing was used from it. Fetch another copy (an older base backup or dump).');
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        if (!header) {
          if (pending.length < HEADER_BYTES) return done();
          header = pending.subarray(0, HEADER_BYTES);
          pending = pending.subarray(HEADER_BYTES);
          if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw authFailure(what, 'it is not a shopctl encrypted backup copy (unknown header)', 'Is BACKUP_S3_PREFIX pointing at this shop\'s copies?');
          const id = header.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES).toString('hex');
          if (id !== k.id) throw authFailure(what, `it was encrypted with another key (key id ${id}; BACKUP_ENCRYPTION_KEY_FILE has key id ${k.id})`, 'Point BACKUP_ENCRYPTION_KEY_FILE at the key these copies were made with.');
        }
        // A full sealed chunk is not the last one only if more bytes follow it.
        while (pending.length > sealed) {
          this.push(open(pending.subarray(0, sealed), false));
          counter += 1;
          pending = pending.subarray(sealed);
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!header) throw authFailure(what, 'it is truncated (shorter than its header)', 'Fetch another copy.');
        if (pending.length < TAG_BYTES) throw authFailure(what, 'the data was truncated', 'Fetch another copy.');
        this.push(open(pending, true));
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}
