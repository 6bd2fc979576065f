// Provides the development TLS certificate for the proxy (run by the `tls` service of
// docker-compose.yml, in the Node image, before the proxy starts).
//
// 1. certs/tls.crt + certs/tls.key on the host (from `shopctl init`, or your own): checked
//    and copied.
// 2. Otherwise a self-signed certificate made earlier and still valid for 30 days: kept, so
//    a browser exception survives restarts.
// 3. Otherwise a new self-signed ECDSA P-256 certificate for TLS_HOSTNAMES.
//
// node:crypto only: the nginx:alpine image has no openssl binary, and X.509 creation is a
// few dozen lines of DER.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

const hostDir = process.env.TLS_HOST_DIR ?? '/host-certs';
const outDir = process.env.TLS_OUT_DIR ?? '/tls';
const names = (process.env.TLS_HOSTNAMES ?? 'localhost,127.0.0.1,::1')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const validDays = Number(process.env.TLS_VALID_DAYS ?? 397);
const RENEW_BEFORE_MS = 30 * 86_400_000;

const log = (msg) => console.log(`tls: ${msg}`);
const fail = (msg) => {
  console.error(`tls: ${msg}`);
  process.exit(1);
};

// --- DER encoding (X.690), just what a certificate needs ---
const len = (n) => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...parts) => tlv(0x30, ...parts);
const set = (...parts) => tlv(0x31, ...parts);
const uint = (buf) => tlv(0x02, buf[0] & 0x80 ? Buffer.concat([Buffer.from([0]), buf]) : buf);
const oid = (dotted) => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
};
const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (buf) => tlv(0x04, buf);
const bits = (buf) => tlv(0x03, Buffer.concat([Buffer.from([0]), buf]));
const time = (d) => {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
};
const ipBytes = (ip) => {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
};
const extension = (id, critical, value) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

function makeCertificate() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = seq(
    set(seq(oid('2.5.4.10'), utf8('shop development'))),
    set(seq(oid('2.5.4.3'), utf8(names.find((n) => !isIP(n)) ?? names[0] ?? 'localhost'))),
  );
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const now = Date.now();
  const san = seq(...names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')))));
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const tbs = seq(
    tlv(0xa0, uint(Buffer.from([2]))), // v3
    uint(serial),
    ecdsaWithSha256,
    name,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + validDays * 86_400_000))),
    name,
    spki,
    tlv(
      0xa3,
      seq(
        extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
        extension('2.5.29.15', true, bits(Buffer.from([0x80]))), // keyUsage: digitalSignature
        extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
        extension('2.5.29.17', false, san),
        extension('2.5.29.14', false, octets(createHash('sha1').update(spki).digest())),
      ),
    ),
  );
  const certificate = seq(tbs, ecdsaWithSha256, bits(sign('sha256', tbs, privateKey)));
  const pem = `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  return { cert: pem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

// Checks that a certificate and key belong together and are not expired; returns the certificate.
function check(certPem, keyPem, where) {
  let x509;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    fail(`${where}/tls.crt is not a PEM certificate (${err.message})`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(keyPem))) fail(`${where}/tls.key does not match ${where}/tls.crt`);
  } catch (err) {
    fail(`${where}/tls.key is not a usable private key (${err.message})`);
  }
  if (Date.parse(x509.validTo) < Date.now()) fail(`${where}/tls.crt expired on ${x509.validTo}`);
  return x509;
}

// Readable by the proxy's unprivileged user; this volume is mounted by the proxy alone.
function install(cert, key) {
  for (const [file, content] of [['tls.key', key], ['tls.crt', cert]]) {
    writeFileSync(join(outDir, `.${file}.tmp`), content, { mode: 0o644 });
    renameSync(join(outDir, `.${file}.tmp`), join(outDir, file));
  }
}

const hostCert = join(hostDir, 'tls.crt');
const hostKey = join(hostDir, 'tls.key');
if (existsSync(hostCert) || existsSync(hostKey)) {
  if (!existsSync(hostCert) || !existsSync(hostKey)) fail(`certs/ needs both tls.crt and tls.key (found only one)`);
  const cert = readFileSync(hostCert, 'utf8');
  const key = readFileSync(hostKey, 'utf8');
  const x509 = check(cert, key, 'certs');
  install(cert, key);
  writeFileSync(join(outDir, 'source'), 'host\n');
  log(`using certs/tls.crt from the host (${x509.subject.replace(/\n/g, ', ')}; valid until ${x509.validTo})`);
  process.exit(0);
}

const outCert = join(outDir, 'tls.crt');
const outKey = join(outDir, 'tls.key');
const source = join(outDir, 'source');
if (existsSync(outCert) && existsSync(outKey) && existsSync(source) && readFileSync(source, 'utf8') === 'generated\n') {
  const x509 = check(readFileSync(outCert, 'utf8'), readFileSync(outKey, 'utf8'), 'the tls volume');
  const sameNames = names.every((n) => (isIP(n) ? x509.checkIP(n) : x509.checkHost(n)));
  if (sameNames && Date.parse(x509.validTo) - Date.now() > RENEW_BEFORE_MS) {
    log(`keeping the self-signed certificate for ${names.join(', ')} (valid until ${x509.validTo})`);
    process.exit(0);
  }
}

const { cert, key } = makeCertificate();
const x509 = check(cert, key, 'the new certificate');
install(cert, key);
writeFileSync(source, 'generated\n');
log(`made a self-signed certificate for ${names.join(', ')}, valid until ${x509.validTo}`);
log(`SHA-256 fingerprint ${x509.fingerprint256}`);
