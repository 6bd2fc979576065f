import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { COMPOSE_FILES, type Context, type Environment } from '../context.js';
import { findContainers } from '../docker/containers.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { GENERATE, missingFromEnv, parseEnvFile } from '../core/envfile.js';
import { looksSecret, secretWeakness } from '../core/secrets.js';
import { configCheck } from '../compose/commands.js';
import type { ComposeModel } from '../compose/model.js';
import { run, lastLines } from '../run.js';
import { serviceName } from '../swarm/stack.js';
import { requireManager, swarmNodes, type SwarmState } from '../swarm/engine.js';
import { placementProblems } from '../swarm/placement.js';
import { SERVICES } from './shared.js';

export interface PreflightResult {
  model: ComposeModel;
  imageRef: string;
  checks: Array<{ name: string; detail: string }>;
  /** Under --orchestrator swarm: this node's place in the swarm. */
  swarm?: SwarmState | undefined;
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
  // First, and alone: without it every compose command fails with a wall of interpolation errors.
  if (!ctx.envFileExists) {
    throw new ShopctlError(`No env file: ${ctx.display(ctx.envFile)} does not exist`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: `Nothing was changed. Create it with fresh secrets: shopctl init${ctx.environment === 'production' ? ' --env production' : ''}`,
    });
  }

  const engine = await ctx.engine();
  checks.push({ name: 'engine', detail: `Docker Engine ${engine.serverVersion} (API ${engine.usedApiVersion})` });
  const swarm = ctx.orchestrator === 'swarm';
  const swarmState = swarm ? await requireManager(await ctx.docker()) : undefined;
  if (swarmState) checks.push({ name: 'swarm', detail: `swarm manager ${swarmState.nodeAddr || swarmState.nodeId}` });

  for (const f of ctx.composeFiles) {
    try {
      await stat(f);
    } catch {
      throw new ShopctlError(`Compose file ${f} not found`, { exitCode: ExitCode.PREFLIGHT, hint: 'Run shopctl in the project directory, or pass -C <dir> / -f <file>.' });
    }
  }
  let model: ComposeModel;
  if (swarm) {
    // The stack loader is stricter than Compose (no build-only keys, no pids_limit): its own check.
    model = await ctx.stackModel(composeEnv);
    checks.push({ name: 'stack', detail: `docker stack config: ${ctx.composeFiles.map((f) => relative(ctx.projectDir, f)).join(', ')} valid` });
  } else {
    const flavour = await ctx.flavour();
    const valid = await run(configCheck(await ctx.compose()), { env: composeEnv, signal: ctx.signal, timeoutMs: 60_000 });
    if (valid.exitCode !== 0) {
      throw new ShopctlError('The compose configuration is invalid', { exitCode: ExitCode.PREFLIGHT, detail: lastLines(`${valid.stderr}\n${valid.stdout}`, 15) });
    }
    checks.push({ name: 'compose', detail: `${flavour.kind === 'v2' ? 'docker compose' : 'docker-compose'} ${flavour.version}: ${ctx.composeFiles.map((f) => relative(ctx.projectDir, f)).join(', ')} valid` });
    model = await ctx.composeModel(composeEnv);
  }
  if (!swarm) {
    const clash = await projectClash(ctx);
    if (clash) throw new ShopctlError(clash.message, { exitCode: ExitCode.PREFLIGHT, hint: clash.hint });
    checks.push({ name: 'project', detail: `Compose project ${ctx.projectName} (${ctx.environment})` });
  }
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
      else if (!swarm && !(mode & 0o004)) problems.push(`secret "${name}" (${ctx.display(file)}) has mode 0${mode.toString(8)}: the services cannot read it (chmod 0644 it; its folder stays 0700)`);
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

  if (swarmState) {
    // A constraint no node meets leaves tasks pending forever: say which label is missing, and how to add it.
    const nodes = await swarmNodes(await ctx.docker());
    const local = nodes.find((n) => n.id === swarmState.nodeId);
    const wanted = [...model.services.values()].map((s) => ({ service: s.name, constraints: s.constraints }));
    const placement = placementProblems(wanted, nodes, local?.hostname || swarmState.nodeId);
    for (const p of placement) {
      problems.push(`no ready node meets the placement of ${serviceName(ctx.projectName, p.service)} (${p.constraints.join(', ')})${p.fix.length ? `: label one, e.g. ${p.fix.join('; ')}` : ''} (docs/swarm.md, "Node labels")`);
    }
    if (!placement.length) checks.push({ name: 'placement', detail: `${nodes.length} node(s); every placement constraint is met` });
    // Compose creates a missing bind-mount source; swarm rejects the task instead ("bind source path does not exist").
    const missing = new Map<string, string[]>();
    for (const s of model.services.values()) {
      for (const source of s.bindSources) {
        const path = resolve(ctx.projectDir, source);
        if (!(await stat(path).then(() => true, () => false))) missing.set(path, [...(missing.get(path) ?? []), s.name]);
      }
    }
    for (const [path, services] of missing) {
      problems.push(`${ctx.display(path)} does not exist (bind-mounted by ${services.join(', ')}): swarm does not create it; create it on every node that runs them (mkdir -p ${ctx.display(path)})`);
    }
  }

  if (problems.length) {
    throw new ShopctlError(`Preflight failed: ${problems.length} problem(s)`, {
      exitCode: ExitCode.PREFLIGHT,
      detail: problems.map((p) => `  - ${p}`).join('\n'),
      hint: 'Nothing was changed. Fix the above and run the deploy again.',
    });
  }
  return { model, imageRef: api.image, checks, swarm: swarmState };
}

const CONFIG_FILES_LABEL = 'com.docker.compose.project.config_files';
const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir';

/** The environment whose compose file made a container (Compose labels it with its files), if it is one of ours. */
export function environmentOfContainer(labels: Readonly<Record<string, string>>): Environment | undefined {
  const files = (labels[CONFIG_FILES_LABEL] ?? '').split(',').map((f) => basename(f.trim()));
  return (Object.keys(COMPOSE_FILES) as Environment[]).find((env) => files.includes(COMPOSE_FILES[env]));
}

/**
 * Pure: why deploying `environment` into `project` would collide, or undefined. `inProject` are
 * the labels of the project's containers; `fromHere` those of containers made from this folder.
 */
export function clashOf(opts: { project: string; environment: Environment; named: boolean; inProject: ReadonlyArray<Readonly<Record<string, string>>>; fromHere: ReadonlyArray<Readonly<Record<string, string>>> }): { message: string; hint: string } | undefined {
  const other = opts.inProject.map(environmentOfContainer).find((env) => env !== undefined && env !== opts.environment);
  if (other) {
    return {
      message: `Compose project ${opts.project} holds the ${other} stack: deploying ${opts.environment} onto it would take over its containers and volumes (its database too)`,
      hint: `Nothing was changed. Give ${opts.environment} a project of its own: -p <name> (or COMPOSE_PROJECT_NAME in its env file), or stop the ${other} stack first.`,
    };
  }
  if (opts.named || opts.inProject.length > 0) return undefined;
  // A stack deployed before each environment had a project of its own: never start a second one beside it.
  const earlier = opts.fromHere.find((l) => environmentOfContainer(l) === opts.environment && l['com.docker.compose.project'] !== opts.project)?.['com.docker.compose.project'];
  if (!earlier) return undefined;
  return {
    message: `The ${opts.environment} stack of this folder runs as Compose project ${earlier}, not ${opts.project} (the default now)`,
    hint: `Nothing was changed. Keep using it: pass -p ${earlier}, or set COMPOSE_PROJECT_NAME=${earlier} in the env file.`,
  };
}

async function projectClash(ctx: Context): Promise<{ message: string; hint: string } | undefined> {
  const docker = await ctx.docker();
  const inProject = (await findContainers(docker, ctx.projectName, { all: true })).map((c) => c.Labels ?? {});
  const fromHere = ctx.projectNamed || inProject.length ? [] : (await docker.listContainers({ all: true, filters: { label: [`${WORKING_DIR_LABEL}=${ctx.projectDir}`] } })).map((c) => c.Labels ?? {});
  return clashOf({ project: ctx.projectName, environment: ctx.environment, named: ctx.projectNamed, inProject, fromHere });
}
