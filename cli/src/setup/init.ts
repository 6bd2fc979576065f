import { chmod, readFile, stat, mkdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { generate } from 'selfsigned';
import type { Context, Environment } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { GENERATE, envToMap, parseEnvFile, renderEnv } from '../formats/envfile.js';
import { generateSecret } from '../secrets.js';
import { writeFileAtomic } from '../state/fs-atomic.js';
import { parseComposeModel } from '../compose/model.js';
import { run } from '../run.js';

export interface InitOptions {
  force?: boolean;
  domain?: string[];
  selfSigned?: boolean;
}

/**
 * Compose bind-mounts secret and certificate files with their host owner and
 * mode, and each service reads them as its own non-root user: the files are 0644 and their
 * directory 0700, which keeps other host users out (docs/stack.md, "Secrets").
 */
export const SECRET_FILE_MODE = 0o644;
export const PRIVATE_DIR_MODE = 0o700;

export interface PlannedFile {
  path: string;
  kind: 'env' | 'secret' | 'certificate' | 'key';
  mode: number;
  content: string;
}

/** Secret files the production compose file declares under `secrets:` (name -> absolute path). */
export async function productionSecretFiles(composeFile: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(composeFile, 'utf8');
  } catch (error) {
    throw new ShopctlError(`Cannot read ${composeFile}: ${(error as Error).message}`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: 'shopctl init --env production reads the secret names from the production compose file; run it in the project directory or pass -C.',
    });
  }
  const model = parseComposeModel(text);
  const files = new Map<string, string>();
  for (const [name, s] of model.secrets) if (s.file) files.set(name, resolve(dirname(composeFile), s.file));
  return files;
}

/** Pure planning: the files init writes, with their content and modes. Secrets are generated here. */
export function planEnvFiles(opts: {
  environment: Environment;
  template: string;
  envFile: string;
  secretFiles: ReadonlyMap<string, string>;
  secret?: () => string;
}): PlannedFile[] {
  const secret = opts.secret ?? (() => generateSecret());
  const { lines, problems } = parseEnvFile(opts.template);
  if (problems.length) throw new ShopctlError(`The template is not a valid env file: ${problems.map((p) => p.message).join('; ')}`, { exitCode: ExitCode.PREFLIGHT });
  const files: PlannedFile[] = [];
  const written = new Set<string>();
  const envText = renderEnv(lines, (key, value) => {
    if (value !== GENERATE) return undefined;
    const secretName = key.toLowerCase();
    const file = opts.environment === 'production' ? opts.secretFiles.get(secretName) : undefined;
    if (!file) return secret();
    if (!written.has(secretName)) {
      files.push({ path: file, kind: 'secret', mode: SECRET_FILE_MODE, content: secret() });
      written.add(secretName);
    }
    return null;
  });
  if (opts.environment === 'production') {
    // Secrets the compose file needs that the template does not mention get a value too.
    for (const [name, file] of opts.secretFiles) {
      if (!written.has(name)) files.push({ path: file, kind: 'secret', mode: SECRET_FILE_MODE, content: secret() });
    }
  }
  // Lets every later shopctl command (verify, backup, ...) pick this environment's compose file.
  const marker = envToMap(lines).has('SHOPCTL_ENV') ? '' : `\n# shopctl: which compose file and checks apply (docker-compose${opts.environment === 'production' ? '.production' : ''}.yml)\nSHOPCTL_ENV=${opts.environment}\n`;
  files.unshift({ path: opts.envFile, kind: 'env', mode: 0o600, content: `${envText}${marker}` });
  return files;
}

/**
 * A self-signed certificate. Development: the key stays 0600 (the `tls` helper reads it with
 * DAC_READ_SEARCH). Production mounts the files straight into the proxy (uid 101): 0644 in a 0700 folder.
 */
export async function planCertificate(certDir: string, domains: readonly string[], keyMode = 0o600): Promise<PlannedFile[]> {
  const notAfter = new Date();
  notAfter.setUTCDate(notAfter.getUTCDate() + 365);
  const altNames = [
    ...domains.map((d) => ({ type: 2 as const, value: d })),
    { type: 7 as const, ip: '127.0.0.1' },
    { type: 7 as const, ip: '::1' },
  ];
  const pems = await generate([{ name: 'commonName', value: domains[0] ?? 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return [
    { path: join(certDir, 'tls.crt'), kind: 'certificate', mode: 0o644, content: pems.cert },
    { path: join(certDir, 'tls.key'), kind: 'key', mode: keyMode, content: pems.private },
  ];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Files git would pick up: written anyway, but the operator is told. Undefined when not in a git work tree. */
async function notIgnoredByGit(projectDir: string, paths: readonly string[]): Promise<string[] | undefined> {
  try {
    const inside = await run(['git', ['-C', projectDir, 'rev-parse', '--is-inside-work-tree']], { timeoutMs: 10_000 });
    if (inside.exitCode !== 0) return undefined;
    const notIgnored: string[] = [];
    for (const p of paths) {
      const r = await run(['git', ['-C', projectDir, 'check-ignore', '-q', '--no-index', p]], { timeoutMs: 10_000 });
      if (r.exitCode === 1) notIgnored.push(p);
    }
    return notIgnored;
  } catch {
    return undefined;
  }
}

/** Renders the env file (production: secret files) and a certificate; refuses to overwrite without --force. */
/** Replacing the secrets under a running stack: its database keeps the password it was created with. */
async function warnIfDatabaseRuns(ctx: Context): Promise<void> {
  let running = false;
  try {
    running = (await ctx.orchestrator.now()).dbRunning;
  } catch {
    return; // no engine: nothing runs here to warn about
  }
  if (!running) return;
  ctx.output.warn(
    `the running stack ${ctx.projectName} keeps its database, created with the old password: with the new secrets its services and deploys are refused by it. ` +
      (ctx.environment === 'development' ? 'Start from empty data (docker compose down -v deletes it), or restore the old .env.' : 'Restore the old secret files, or ALTER ROLE to the new password before deploying.'),
  );
}

export async function initProject(ctx: Context, opts: InitOptions): Promise<{ environment: Environment; files: Array<{ path: string; kind: string; mode: string; replaced: boolean }>; exposed: string[] | undefined }> {
  const environment = ctx.environment;
  const templatePath = join(ctx.projectDir, 'templates', `.env.${environment}`);
  let template: string;
  try {
    template = await readFile(templatePath, 'utf8');
  } catch {
    throw new ShopctlError(`Template ${templatePath} not found`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: 'Run shopctl init in the project directory (or pass -C <dir>); templates/ ships with the project.',
    });
  }
  const composeFile = ctx.composeFiles[0] ?? join(ctx.projectDir, 'docker-compose.production.yml');
  const secretFiles = environment === 'production' ? await productionSecretFiles(composeFile) : new Map<string, string>();
  const planned = planEnvFiles({ environment, template, envFile: ctx.envFile, secretFiles });
  const certDir = resolve(ctx.projectDir, ctx.envValues.get('TLS_CERT_DIR') ?? 'certs');
  if (environment === 'development') planned.push(...(await planCertificate(certDir, opts.domain?.length ? opts.domain : ['localhost'])));
  else if (opts.selfSigned) planned.push(...(await planCertificate(certDir, opts.domain?.length ? opts.domain : ['localhost'], SECRET_FILE_MODE)));

  const existing: string[] = [];
  for (const f of planned) if (await exists(f.path)) existing.push(f.path);
  if (existing.length && !opts.force) {
    throw new ShopctlError(`Refusing to overwrite ${existing.length} existing file(s): ${existing.map((p) => relative(ctx.projectDir, p) || p).join(', ')}`, {
      exitCode: ExitCode.REFUSED,
      hint: 'Pass --force to replace them. Replacing production secrets of a running stack locks the services out of the database created with the old password.',
    });
  }
  if (existing.includes(ctx.envFile)) await warnIfDatabaseRuns(ctx);
  for (const f of planned) {
    const privateDir = f.kind === 'secret' || f.kind === 'key' || f.kind === 'certificate';
    await mkdir(dirname(f.path), { recursive: true, mode: privateDir ? PRIVATE_DIR_MODE : 0o755 });
    // An existing folder keeps its mode through mkdir: make sure it is closed to other users.
    if (privateDir) await chmod(dirname(f.path), PRIVATE_DIR_MODE);
    await writeFileAtomic(f.path, f.content, f.mode);
  }
  const rel = (p: string) => relative(ctx.projectDir, p) || p;
  const exposed = await notIgnoredByGit(ctx.projectDir, planned.map((f) => rel(f.path)));
  if (exposed?.length) ctx.output.warn(`not ignored by git (add them to .gitignore before committing): ${exposed.join(', ')}`);
  return { environment, files: planned.map((f) => ({ path: rel(f.path), kind: f.kind, mode: `0${f.mode.toString(8)}`, replaced: existing.includes(f.path) })), exposed };
}

