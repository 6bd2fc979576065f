import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { GENERATE, missingFromEnv, parseEnvFile } from '../formats/envfile.js';
import { looksSecret, secretWeakness } from '../secrets.js';
import type { ComposeModel } from '../compose/model.js';
import { SERVICES } from '../orchestrators/orchestrator.js';

export interface PreflightResult {
  model: ComposeModel;
  imageRef: string;
  checks: Array<{ name: string; detail: string }>;
}

/** Secret files holding passwords or keys (not certificates): these must not be weak in production. */
function isPasswordLike(name: string): boolean {
  return /password|secret|token|passwd/i.test(name);
}

/**
 * Everything a deploy checks before it changes anything: the engine answers, the compose
 * files are valid, the env file is complete against its template, and (production) no
 * secret is a default, a placeholder or weak. Every problem is listed, not just the first.
 */
export async function preflight(ctx: Context, composeEnv: Record<string, string>): Promise<PreflightResult> {
  const checks: PreflightResult['checks'] = [];
  const problems: string[] = [];

  const engine = await ctx.engine();
  checks.push({ name: 'engine', detail: `Docker Engine ${engine.serverVersion} (API ${engine.usedApiVersion})` });
  // Right after the engine, alone: without it every compose command fails with a wall of interpolation errors.
  if (!ctx.envFileExists) {
    throw new ShopctlError(`No env file: ${ctx.display(ctx.envFile)} does not exist`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: `Nothing was changed. Create it with fresh secrets: shopctl init${ctx.environment === 'production' ? ' --env production' : ''}`,
    });
  }
  for (const f of ctx.composeFiles) {
    try {
      await stat(f);
    } catch {
      throw new ShopctlError(`Compose file ${f} not found`, { exitCode: ExitCode.PREFLIGHT, hint: 'Run shopctl in the project directory, or pass -C <dir> / -f <file>.' });
    }
  }
  const stack = await ctx.orchestrator.check(composeEnv);
  const model = stack.model;
  checks.push(...stack.checks);
  const api = model.services.get(SERVICES.api);
  if (!api?.image) throw new ShopctlError('The compose files define no "api" service with an image', { exitCode: ExitCode.PREFLIGHT });
  for (const s of [SERVICES.db, SERVICES.proxy]) {
    if (!model.services.has(s)) problems.push(`the compose files define no "${s}" service`);
  }

  {
    const templatePath = join(ctx.projectDir, 'templates', `.env.${ctx.environment}`);
    let templateText: string | undefined;
    try {
      templateText = await readFile(templatePath, 'utf8');
    } catch {
      checks.push({ name: 'env file', detail: `no template ${relative(ctx.projectDir, templatePath)} to compare with` });
    }
    const envText = await readFile(ctx.envFile, 'utf8');
    const parsedEnv = parseEnvFile(envText);
    for (const p of parsedEnv.problems) problems.push(`${ctx.display(ctx.envFile)}: ${p.message}`);
    if (templateText !== undefined) {
      const template = parseEnvFile(templateText).lines;
      const external = new Set<string>();
      if (ctx.environment === 'production') {
        for (const l of template) if (l.kind === 'entry' && l.value === GENERATE && model.secrets.has(l.key.toLowerCase())) external.add(l.key);
      }
      // shopctl passes APP_VERSION itself (the version being deployed).
      external.add('APP_VERSION');
      const missing = missingFromEnv(template, ctx.envValues, external);
      for (const m of missing) problems.push(`${ctx.display(ctx.envFile)}: ${m}`);
      if (!missing.length) checks.push({ name: 'env file', detail: `${ctx.display(ctx.envFile)} has every variable of templates/.env.${ctx.environment}` });
    }
  }

  if (ctx.environment === 'production') {
    let count = 0;
    const dirs = new Set<string>();
    for (const [name, s] of model.secrets) {
      if (!s.file) continue;
      const file = resolve(ctx.projectDir, s.file);
      let value: string;
      let mode: number;
      try {
        value = await readFile(file, 'utf8');
        mode = (await stat(file)).mode & 0o777;
      } catch {
        problems.push(`secret "${name}": file ${ctx.display(file)} is missing (create it with: shopctl init --env production)`);
        continue;
      }
      count += 1;
      dirs.add(dirname(file));
      if (isPasswordLike(name)) {
        const weak = secretWeakness(name, value);
        if (weak) problems.push(`secret "${name}" (${ctx.display(file)}) ${weak}`);
      }
      if (mode & 0o022) problems.push(`secret "${name}" (${ctx.display(file)}) is writable by others (mode 0${mode.toString(8)}): chmod 0644 it`);
      // Compose bind-mounts it as it is, and the services read it as their own non-root users
      // (swarm copies it into its store and mounts it 0444 itself).
      else if (stack.secretsBindMounted && !(mode & 0o004)) problems.push(`secret "${name}" (${ctx.display(file)}) has mode 0${mode.toString(8)}: the services cannot read it (chmod 0644 it; its folder stays 0700)`);
    }
    for (const dir of dirs) {
      const mode = (await stat(dir)).mode & 0o777;
      if (mode & 0o077) problems.push(`${ctx.display(dir)}/ has mode 0${mode.toString(8)}: other users of this host can read the secrets (chmod 0700 ${ctx.display(dir)})`);
    }
    for (const [key, value] of ctx.envValues) {
      if (!looksSecret(key) || value === '') continue;
      const weak = secretWeakness(key, value);
      if (weak) problems.push(`${ctx.display(ctx.envFile)}: ${key} ${weak}`);
    }
    checks.push({ name: 'secrets', detail: `${count} secret file(s) present, readable by the services and strong` });
    // The production proxy mounts the certificate files themselves (a missing one becomes a directory).
    const certDir = resolve(ctx.projectDir, ctx.envValues.get('TLS_CERT_DIR') ?? process.env.TLS_CERT_DIR ?? 'certs');
    for (const f of ['tls.crt', 'tls.key']) {
      const path = join(certDir, f);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) problems.push(`${ctx.display(path)} is missing: the proxy needs a certificate (Let's Encrypt: docs/stack.md; a temporary one: shopctl init --env production --self-signed --force)`);
      else if (!(st.mode & 0o004) && !(st.uid === 101 || (st.gid === 101 && st.mode & 0o040))) problems.push(`${ctx.display(path)} is not readable by the proxy (uid 101): chmod 0644 it (certs/ stays 0700), or chgrp 101 + 0640`);
    }
  }

  problems.push(...stack.problems);

  if (problems.length) {
    throw new ShopctlError(`Preflight failed: ${problems.length} problem(s)`, {
      exitCode: ExitCode.PREFLIGHT,
      detail: problems.map((p) => `  - ${p}`).join('\n'),
      hint: 'Nothing was changed. Fix the above and run the deploy again.',
    });
  }
  return { model, imageRef: api.image, checks };
}
