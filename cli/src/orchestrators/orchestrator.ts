import type Docker from 'dockerode';
import type { ComposeModel } from '../compose/model.js';
import type { Release } from '../state/releases.js';
import type { Verdict } from '../verify/checks.js';

/** Who runs the stack: Compose on one host, or Docker Swarm (`docker stack deploy`, docs/swarm.md). */
export const ORCHESTRATORS = ['compose', 'swarm'] as const;
export type OrchestratorKind = (typeof ORCHESTRATORS)[number];

/** Service names from docs/architecture.md. */
export const SERVICES = { api: 'api', db: 'db', cache: 'cache', proxy: 'proxy', storefront: 'storefront' } as const;

/** `node api/dist/cli/migrate.js` in a one-off container of the new image (docs/architecture.md, "The image"). */
export const MIGRATE_COMMAND = ['node', 'api/dist/cli/migrate.js'] as const;

export interface Address {
  host: string;
  port: number;
}

/** Where a client reaches the stack: the proxy's published ports. */
export interface ProxyEndpoint {
  https?: Address | undefined;
  http?: Address | undefined;
}

/** One step of a task list: what listr2 runs, what a dry-run prints. */
export interface TaskHandle {
  title: string;
  output: string | unknown;
  skip(message?: string): void;
}

export interface RolloutStep {
  /** Short name in the dry-run plan. */
  name: string;
  title: string;
  /** Evaluated when its turn comes (a first deploy skips the switch). */
  enabled?: () => boolean;
  /** What it would do, for the dry-run plan; undefined when it would not run. */
  plan: () => string | undefined;
  run(task: TaskHandle): Promise<void>;
}

/** What the stack runs now, read before anything changes (dry-run plans, backup and replica defaults). */
export interface StackNow {
  /** api replicas running (compose: containers; swarm: the service's replica count); 0 before the first deploy. */
  apiReplicas: number;
  /** Names of what runs the api now, for plans. */
  apiNames: string[];
  firstDeploy: boolean;
  /** The database runs (a pre-deploy backup needs it). */
  dbRunning: boolean;
}

/** Where a new image comes from: decides how nodes resolve it (swarm pins a pulled image by digest). */
export type ImageSource = 'build' | 'pull' | 'local' | 'released';

export interface RolloutOptions {
  version: string;
  imageRef: string;
  imageId: string;
  imageSource: ImageSource;
  /** --replicas; default: as many as run now (at least 1), or the files' deploy.replicas on a first deploy. */
  replicas?: number | undefined;
  defaultReplicas?: number | undefined;
  healthTimeoutMs: number;
  drainTimeoutMs: number;
  /** Environment for every Compose call (APP_VERSION): what selects the new image. */
  env: Record<string, string>;
  runMigrations: boolean;
  model: ComposeModel;
}

/** How a failed release ends: what the history records, and the error the operator sees. */
export interface Failure {
  result: Release['result'];
  error: unknown;
}

/**
 * One rolling update to a new image. The release pipeline runs its steps in order (prepare,
 * migrate, roll, then smoke through the proxy, then retire) and, when any of them fails,
 * calls `undo` once: it puts back what the steps changed and says how the release ended.
 */
export interface Rollout {
  readonly prepare: RolloutStep[];
  readonly migrate: RolloutStep[];
  readonly roll: RolloutStep[];
  readonly retire: RolloutStep[];
  /** The version the smoke check must see through the proxy (undefined: any). */
  expectedVersion(): string | undefined;
  /**
   * At the smoke check the old version still serves beside the new one (Compose: both own socket
   * slots until the old containers stop); the check then needs the new version among the answers,
   * not in every one.
   */
  sideBySide?(): boolean;
  replicas(): number;
  firstDeploy(): boolean;
  undo(failure: Failure): Promise<Failure>;
  /** After success: the summary's first clause, its extra lines, the --json fields, the exit code. */
  report(): { headline: string; lines: string[]; data: Record<string, unknown>; exitCode: 0 | 6 };
}

/** What preflight learned from the orchestrator: the model, what passed, what did not. */
export interface StackCheck {
  model: ComposeModel;
  checks: Array<{ name: string; detail: string }>;
  problems: string[];
  /** Secret files reach the services bind-mounted as they are on the host (Compose), or copied (swarm). */
  secretsBindMounted: boolean;
}

/** A service's instances stopped for a while (the API during a restore; the db for a volume swap). */
export interface Pause {
  /** Stops them gracefully; what was stopped is remembered even when this throws. Returns a title. */
  stop(onLine: (line: string) => void): Promise<string>;
  /** Starts again what `stop` stopped, waits until healthy; nothing when nothing was stopped. */
  start(): Promise<void>;
  /** How many instances were stopped. */
  readonly count: number;
}

/** `shopctl status`: the orchestrator's own facts, in its own words. */
export interface StatusFacts {
  heading: string;
  tooling: string;
  data: Record<string, unknown>;
  table: { headers: string[]; rows: string[][] };
  /** False when the stack's definition could not be read (the warning says why): status must not exit 0. */
  readable?: boolean;
}

/** `shopctl health` without the API check: each service's verdict and a table. */
export interface HealthFacts {
  data: Record<string, unknown>;
  services: unknown[];
  /** Defined services that are not healthy, and swarm's word on why when it has one. */
  unhealthy: Array<{ service: string; why?: string | undefined }>;
  table: { headers: string[]; rows: string[][] };
}

/** What `verify` inspects: the stack's verdict and the containers to check for hardening on this host. */
export interface VerifyTargets {
  stack: Verdict;
  containers: Docker.ContainerInfo[];
  swarm: boolean;
  daemonNoNewPrivileges: boolean;
}

/**
 * Who runs the stack. Commands and the release pipeline ask it; they never ask which one it is.
 * A third implementation (Kubernetes) would be a new folder beside compose/ and swarm/.
 */
export interface Orchestrator {
  readonly kind: OrchestratorKind;
  /** `project shop` / `swarm stack shop`, for messages. */
  readonly label: string;
  /** Refuses a release this orchestrator cannot run (swarm runs the production file only). */
  assertCanRelease(verb: string): void;
  /** The model of the stack's files, for the given environment (APP_VERSION...). */
  model(env?: Record<string, string>): Promise<ComposeModel>;
  /** Validates the files as this orchestrator reads them, with its own checks (swarm: manager, placement). */
  check(env: Record<string, string>): Promise<StackCheck>;
  now(): Promise<StackNow>;
  /** How a release puts a pulled image on this host. */
  pullCommand(imageRef: string): Promise<[string, string[]]>;
  /** A rolling update to a new image, planned from what runs `now`. */
  rollout(opts: RolloutOptions, now: StackNow): Rollout;
  /** Migrations in a one-off container (compose) or job (swarm) of the version's image. */
  migrate(version: string, onLine: (line: string) => void): Promise<{ output: string; data: Record<string, unknown> }>;
  proxyEndpoint(): Promise<ProxyEndpoint>;
  /** The newest running container of a service on this host (what `docker exec` reaches). */
  runningContainer(service: string): Promise<Docker.ContainerInspectInfo>;
  /** Containers of a service on this host (running only unless `all`). */
  containers(service?: string, all?: boolean): Promise<Docker.ContainerInfo[]>;
  pause(service: string, timeoutMs: number): Promise<Pause>;
  /** The engine's name of a volume the stack's files declare (`db-data` -> `shop_db-data`). */
  volumeName(volume: string): string;
  /** Starts a stopped or removed service again from the stack's definition (a restored database) and waits until healthy. */
  startService(service: string, timeoutMs: number): Promise<void>;
  status(): Promise<StatusFacts>;
  health(): Promise<HealthFacts>;
  verifyTargets(): Promise<VerifyTargets>;
}
