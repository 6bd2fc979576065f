import type { Argv, ComposeFlavour } from './flavour.js';

/** Everything that selects one Compose project; the same for every command. */
export interface ComposeProject {
  flavour: ComposeFlavour;
  projectName: string;
  projectDir: string;
  files: readonly string[];
  envFile?: string | undefined;
  profiles?: readonly string[] | undefined;
}

/**
 * Compose v1 applies `deploy.resources` (limits, replicas) only with --compatibility, and the
 * production file keeps its limits there (so that swarm reads them too). v2 applies them
 * anyway, and its --compatibility would rename containers, so it never gets the flag.
 */
function compatibility(p: ComposeProject): string[] {
  return p.flavour.kind === 'v1' ? ['--compatibility'] : [];
}

/** `docker compose -p shop --project-directory /srv/shop -f docker-compose.yml --env-file .env` */
export function base(p: ComposeProject, subcommand: readonly string[]): Argv {
  const args: string[] = [...p.flavour.prefix, ...compatibility(p), '--project-name', p.projectName, '--project-directory', p.projectDir];
  for (const f of p.files) args.push('--file', f);
  if (p.envFile) args.push('--env-file', p.envFile);
  for (const profile of p.profiles ?? []) args.push('--profile', profile);
  return [p.flavour.command, [...args, ...subcommand]];
}

/** Validates the files and interpolation; prints nothing on success. */
export function configCheck(p: ComposeProject): Argv {
  return base(p, ['config', '--quiet']);
}

/** The resolved model (YAML) that shopctl reads for services, secrets and images; never printed (it holds env values). */
export function configModel(p: ComposeProject): Argv {
  return base(p, ['config']);
}

export function configServices(p: ComposeProject): Argv {
  return base(p, ['config', '--services']);
}

export function build(p: ComposeProject, services: readonly string[], opts: { buildArgs?: Record<string, string>; pull?: boolean } = {}): Argv {
  const args = ['build'];
  if (opts.pull) args.push('--pull');
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  return base(p, [...args, ...services]);
}

export function pull(p: ComposeProject, services: readonly string[]): Argv {
  return base(p, ['pull', ...services]);
}

export interface UpOptions {
  services?: readonly string[];
  noDeps?: boolean;
  noRecreate?: boolean;
  noBuild?: boolean;
  scale?: Readonly<Record<string, number>>;
}

/** Always detached: shopctl watches health itself through the Engine API (v1 has no --wait). */
export function up(p: ComposeProject, opts: UpOptions = {}): Argv {
  const args = ['up', '--detach'];
  if (opts.noDeps) args.push('--no-deps');
  if (opts.noRecreate) args.push('--no-recreate');
  if (opts.noBuild) args.push('--no-build');
  for (const [service, n] of Object.entries(opts.scale ?? {})) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`scale for ${service} must be a whole number >= 0`);
    args.push('--scale', `${service}=${n}`);
  }
  return base(p, [...args, ...(opts.services ?? [])]);
}

/**
 * The rolling-update step of docker-rollout: start `count` containers of `service` beside the
 * ones running, from the current configuration, without touching the old ones or any dependency.
 */
export function scaleUp(p: ComposeProject, service: string, count: number): Argv {
  return up(p, { services: [service], noDeps: true, noRecreate: true, noBuild: true, scale: { [service]: count } });
}

export interface RunOptions {
  env?: Readonly<Record<string, string>>;
  user?: string;
  entrypoint?: string;
  noDeps?: boolean;
}

/** A one-off container (`run --rm -T`): -T because shopctl runs it without a TTY, in cron and CI too. */
export function run(p: ComposeProject, service: string, command: readonly string[], opts: RunOptions = {}): Argv {
  const args = ['run', '--rm', '-T'];
  if (opts.noDeps ?? true) args.push('--no-deps');
  if (opts.user) args.push('--user', opts.user);
  if (opts.entrypoint !== undefined) args.push('--entrypoint', opts.entrypoint);
  for (const [k, v] of Object.entries(opts.env ?? {})) args.push('-e', `${k}=${v}`);
  return base(p, [...args, service, ...command]);
}
