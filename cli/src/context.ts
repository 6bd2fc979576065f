import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ShopctlError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { envToMap, parseEnvFile } from './formats/envfile.js';
import { parseComposeModel, type ComposeModel } from './compose/model.js';
import { configModel, type ComposeProject } from './compose/commands.js';
import { parseComposeVersion, probeV1, probeV2, v1, v2, type ComposeFlavour } from './compose/flavour.js';
import { connectDocker, type Docker, type EngineInfo } from './docker/client.js';
import { run, runChecked } from './run.js';
import type { Output } from './output.js';
import { loadHistory } from './state/releases.js';
import { ORCHESTRATORS, type Orchestrator, type OrchestratorKind } from './orchestrators/orchestrator.js';
import { ComposeOrchestrator } from './orchestrators/compose/index.js';
import { SwarmOrchestrator } from './orchestrators/swarm/index.js';

export const ENVIRONMENTS = ['development', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];


/** Flags every command accepts (see program.ts). */
export interface GlobalOptions {
  projectDir?: string;
  projectName?: string;
  envFile?: string;
  file?: string[];
  profile?: string[];
  stateDir?: string;
  backupDir?: string;
  env?: string;
  orchestrator?: string;
  json?: boolean;
  verbose?: boolean;
}

export const COMPOSE_FILES: Record<Environment, string> = {
  development: 'docker-compose.yml',
  production: 'docker-compose.production.yml',
};

/**
 * Compose only, merged over the production file: its pids limits, which the stack loader
 * (`docker stack deploy`) would reject there (docker-compose.production.pids.yml says why).
 */
export const COMPOSE_ONLY_PRODUCTION_FILE = 'docker-compose.production.pids.yml';

/**
 * The project directory: `start` or the nearest folder above it holding a compose file, as git
 * and Compose look upward; undefined when no folder up to the root holds one.
 */
export function findProjectDir(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (Object.values(COMPOSE_FILES).some((f) => existsSync(join(dir, f)))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Each environment its own Compose project unless the operator names one: development is the
 * folder's name (as the quick start's `docker compose up`), production `<folder>-production`
 * (or the project its recorded releases ran in), so the two never share containers or volumes
 * on one machine. A swarm stack keeps the folder's name (it runs production only).
 */
export function defaultProjectName(projectDir: string, environment: Environment, orchestrator: OrchestratorKind, recorded?: string): string {
  const base = basename(projectDir);
  if (environment !== 'production' || orchestrator !== 'compose') return base;
  return recorded ?? `${base}-production`;
}

/** Compose's own rule: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

export function parseOrchestrator(value: string, source: string): OrchestratorKind {
  if ((ORCHESTRATORS as readonly string[]).includes(value)) return value as OrchestratorKind;
  throw new ShopctlError(`Unknown orchestrator "${value}" (from ${source})`, {
    exitCode: ExitCode.USAGE,
    hint: `Use one of: ${ORCHESTRATORS.join(', ')}.`,
  });
}

export function parseEnvironment(value: string, source: string): Environment {
  if ((ENVIRONMENTS as readonly string[]).includes(value)) return value as Environment;
  throw new ShopctlError(`Unknown environment "${value}" (from ${source})`, {
    exitCode: ExitCode.USAGE,
    hint: `Use one of: ${ENVIRONMENTS.join(', ')}.`,
  });
}

/** Where things are and how to reach them, resolved once per command; Docker and Compose are connected lazily. */
export class Context {
  readonly projectDir: string;
  readonly envFile: string;
  readonly envFileExists: boolean;
  /** The env file's values (empty when there is none); never printed. */
  readonly envValues: ReadonlyMap<string, string>;
  readonly environment: Environment;
  /** Who runs the stack; commands ask it, never which one it is. */
  readonly orchestrator: Orchestrator;
  readonly composeFiles: readonly string[];
  readonly projectName: string;
  /** Whether the operator named the project (-p, COMPOSE_PROJECT_NAME) rather than taking the environment's default. */
  readonly projectNamed: boolean;
  readonly profiles: readonly string[];
  readonly stateDir: string;
  readonly backupDir: string;
  readonly output: Output;
  readonly signal: AbortSignal;

  private dockerPromise: Promise<{ docker: Docker; engine: EngineInfo }> | undefined;
  private flavourPromise: Promise<ComposeFlavour> | undefined;
  private readonly models = new Map<string, Promise<ComposeModel>>();

  private constructor(fields: Omit<Context, 'docker' | 'engine' | 'compose' | 'composeModel' | 'statePath' | 'cleanupSignal' | 'flavour' | 'display' | 'orchestrator'> & { orchestrator: OrchestratorKind; create?: ((ctx: Context) => Orchestrator) | undefined }) {
    this.projectDir = fields.projectDir;
    this.envFile = fields.envFile;
    this.envFileExists = fields.envFileExists;
    this.envValues = fields.envValues;
    this.environment = fields.environment;
    this.composeFiles = fields.composeFiles;
    this.projectName = fields.projectName;
    this.projectNamed = fields.projectNamed;
    this.profiles = fields.profiles;
    this.stateDir = fields.stateDir;
    this.backupDir = fields.backupDir;
    this.output = fields.output;
    this.signal = fields.signal;
    this.orchestrator = fields.create ? fields.create(this) : fields.orchestrator === 'swarm' ? new SwarmOrchestrator(this) : new ComposeOrchestrator(this);
  }

  /** `overrides.orchestrator` builds another implementation (tests: an in-memory one). */
  static async resolve(opts: GlobalOptions, output: Output, signal: AbortSignal, overrides: { environment?: Environment; orchestrator?: (ctx: Context) => Orchestrator } = {}): Promise<Context> {
    const projectDir = opts.projectDir ? resolve(opts.projectDir) : findProjectDir(process.cwd());
    if (!projectDir) {
      throw new ShopctlError(`No shop project in ${process.cwd()} or any folder above it (no ${Object.values(COMPOSE_FILES).join(' or ')})`, {
        exitCode: ExitCode.PREFLIGHT,
        hint: 'Run shopctl in the project directory (or a folder below it), or pass -C <project directory>.',
      });
    }
    const envFile = resolve(projectDir, opts.envFile ?? '.env');
    let envText: string | undefined;
    try {
      envText = await readFile(envFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (opts.envFile) throw new ShopctlError(`Env file ${envFile} does not exist`, { exitCode: ExitCode.PREFLIGHT, hint: 'Create it with shopctl init.' });
    }
    const envValues = envText === undefined ? new Map<string, string>() : envToMap(parseEnvFile(envText).lines);
    const fromEnv = (key: string) => process.env[key] || envValues.get(key) || undefined;

    const stateDir = resolve(projectDir, opts.stateDir ?? '.shopctl');
    const last = await lastRelease(join(stateDir, 'releases.json'));
    let orchestrator: OrchestratorKind;
    if (opts.orchestrator) orchestrator = parseOrchestrator(opts.orchestrator, '--orchestrator');
    else if (fromEnv('SHOPCTL_ORCHESTRATOR')) orchestrator = parseOrchestrator(fromEnv('SHOPCTL_ORCHESTRATOR') ?? '', 'SHOPCTL_ORCHESTRATOR');
    else orchestrator = last.orchestrator ?? 'compose';
    let environment: Environment;
    if (overrides.environment) environment = overrides.environment;
    else if (opts.env) environment = parseEnvironment(opts.env, '--env');
    else if (fromEnv('SHOPCTL_ENV')) environment = parseEnvironment(fromEnv('SHOPCTL_ENV') ?? '', 'SHOPCTL_ENV');
    else if (envValues.get('ENVIRONMENT') === 'production') environment = 'production';
    // A swarm runs the production file only (docker-compose.yml is Compose's development stack).
    else environment = last.environment ?? (orchestrator === 'swarm' ? 'production' : 'development');

    const composeFileSetting = fromEnv('COMPOSE_FILE');
    const defaultFile = orchestrator === 'swarm' ? COMPOSE_FILES.production : COMPOSE_FILES[environment];
    const composeOnly = orchestrator === 'compose' && environment === 'production' && existsSync(join(projectDir, COMPOSE_ONLY_PRODUCTION_FILE)) ? [COMPOSE_ONLY_PRODUCTION_FILE] : [];
    const files = opts.file?.length ? opts.file : composeFileSetting ? composeFileSetting.split(fromEnv('COMPOSE_PATH_SEPARATOR') ?? ':') : [defaultFile, ...composeOnly];
    const composeFiles = files.map((f) => (isAbsolute(f) ? f : join(projectDir, f)));

    const namedProject = opts.projectName ?? fromEnv('COMPOSE_PROJECT_NAME');
    const rawName = namedProject ?? defaultProjectName(projectDir, environment, orchestrator, last.productionProject === null ? basename(projectDir) : last.productionProject);
    const projectName = normalizeProjectName(rawName);
    if (projectName === '') throw new ShopctlError(`"${rawName}" is not usable as a Compose project name`, { exitCode: ExitCode.USAGE, hint: 'Pass --project-name.' });

    const profiles = opts.profile?.length ? opts.profile : (fromEnv('COMPOSE_PROFILES')?.split(',').filter(Boolean) ?? []);
    const backupDir = resolve(projectDir, opts.backupDir ?? fromEnv('BACKUP_DIR') ?? 'backups');
    return new Context({
      projectDir,
      envFile,
      envFileExists: envText !== undefined,
      envValues,
      environment,
      orchestrator,
      create: overrides.orchestrator,
      composeFiles,
      projectName,
      projectNamed: namedProject !== undefined,
      profiles,
      stateDir,
      backupDir,
      output,
      signal,
    });
  }

  /** A path for messages: relative inside the project, absolute elsewhere. */
  display(path: string): string {
    const rel = relative(this.projectDir, path);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  }

  /**
   * The signal for a wait that undoes part of this run (starting again what it stopped): none once
   * the run was interrupted, so that the clean-up runs to its end (a second Ctrl-C exits at once).
   */
  get cleanupSignal(): AbortSignal | undefined {
    return this.signal.aborted ? undefined : this.signal;
  }

  statePath(...parts: string[]): string {
    return join(this.stateDir, ...parts);
  }

  async docker(): Promise<Docker> {
    this.dockerPromise ??= connectDocker();
    return (await this.dockerPromise).docker;
  }

  async engine(): Promise<EngineInfo> {
    this.dockerPromise ??= connectDocker();
    return (await this.dockerPromise).engine;
  }

  async flavour(): Promise<ComposeFlavour> {
    this.flavourPromise ??= detectCompose(this.signal);
    return this.flavourPromise;
  }

  async compose(): Promise<ComposeProject> {
    return {
      flavour: await this.flavour(),
      projectName: this.projectName,
      projectDir: this.projectDir,
      files: this.composeFiles,
      envFile: this.envFileExists ? this.envFile : undefined,
      profiles: this.profiles,
    };
  }

  /** The resolved Compose model (`compose config`), parsed once. */
  async composeModel(env: Record<string, string> = {}): Promise<ComposeModel> {
    const key = JSON.stringify(env);
    let model = this.models.get(key);
    if (!model) {
      model = (async () => {
        const result = await runChecked(configModel(await this.compose()), 'docker compose config', { env, signal: this.signal, exitCode: ExitCode.PREFLIGHT });
        return parseComposeModel(result.stdout);
      })();
      this.models.set(key, model);
    }
    return model;
  }
}

/**
 * The environment and orchestrator of the newest release recorded here: `shopctl verify` after
 * `deploy production` checks production, after `--orchestrator swarm deploy` the swarm.
 */
async function lastRelease(path: string): Promise<{ environment?: Environment; orchestrator?: OrchestratorKind; productionProject?: string | null }> {
  try {
    const releases = (await loadHistory(path)).releases;
    const last = releases.at(-1);
    // The project of the newest production release on Compose; null: recorded before releases named it (the folder's name).
    const production = releases.findLast((r) => r.environment === 'production' && (r.orchestrator ?? 'compose') === 'compose' && r.result === 'success');
    const productionProject = production ? (production.project ?? null) : undefined;
    const env = last?.environment;
    const orchestrator = last?.orchestrator;
    return {
      ...(env === 'production' || env === 'development' ? { environment: env } : {}),
      ...(orchestrator === 'swarm' || orchestrator === 'compose' ? { orchestrator } : {}),
      ...(productionProject !== undefined ? { productionProject } : {}),
    };
  } catch {
    return {};
  }
}

/** `docker compose` (v2) when the plugin answers, else `docker-compose` (v1); an error naming both otherwise. */
export async function detectCompose(signal?: AbortSignal): Promise<ComposeFlavour> {
  const forced = process.env.SHOPCTL_COMPOSE;
  const tryProbe = async (which: 'v1' | 'v2') => {
    try {
      const r = await run(which === 'v2' ? probeV2() : probeV1(), { signal, timeoutMs: 20_000 });
      const version = r.exitCode === 0 ? parseComposeVersion(r.stdout) : undefined;
      return version ? (which === 'v2' ? v2(version) : v1(version)) : undefined;
    } catch {
      return undefined;
    }
  };
  if (forced === 'v1' || forced === 'v2') {
    const f = await tryProbe(forced);
    if (f) return f;
    throw new ShopctlError(`SHOPCTL_COMPOSE=${forced} but that Compose does not answer`, { exitCode: ExitCode.PREFLIGHT });
  }
  const found = (await tryProbe('v2')) ?? (await tryProbe('v1'));
  if (found) return found;
  throw new ShopctlError('Neither `docker compose` (v2) nor `docker-compose` (v1) is available', {
    exitCode: ExitCode.PREFLIGHT,
    hint: 'Install the Docker Compose plugin: https://docs.docker.com/compose/install/',
  });
}
