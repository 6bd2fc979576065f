import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export type Environment = 'development' | 'production' | 'test';
export type ConfigPurpose = 'server' | 'migrate';

export interface Config {
  readonly port: number;
  readonly environment: Environment;
  readonly logLevel: string;
  readonly databaseUrl: string;
  readonly databasePoolMax: number;
  readonly databasePoolTimeoutMs: number;
  readonly redisUrl: string;
  readonly cacheRedisUrl: string;
  readonly redisKeyPrefix: string;
  readonly apiSecretKey: string;
  readonly jwtTtlSeconds: number;
  readonly admin: { readonly username: string; readonly email: string; readonly password: string } | null;
  readonly rateLimitAuthPerMinute: number;
  readonly rateLimitPerMinute: number;
  readonly trustProxy: boolean;
  /**
   * The level of the access line of a successful, quick read (GET or HEAD, status < 400, < 1 s):
   * `info`, or `debug` where an edge (the stacks' nginx) already logs every request with its id.
   */
  readonly accessLogReads: 'info' | 'debug';
  readonly shutdownTimeoutMs: number;
  /** Where nginx finds this replica: socket slots in this folder (docs/stack.md); unset: TCP only. */
  readonly socketDir: string | undefined;
  readonly socketSlots: number;
  readonly migrateOnStart: boolean;
  readonly seedSampleData: boolean;
  readonly appVersion: string;
  readonly databaseDir: string;
}

/** Every problem found in the environment, one line each, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Values that are public knowledge and must never sign production tokens. */
export const KNOWN_DEFAULT_SECRETS: readonly string[] = [
  'changeme',
  'change-me',
  'changeit',
  'secret',
  'password',
  'development',
  'dev-secret',
  'test-secret',
  '__GENERATE__',
  // The development value in .env.example:
  'dev-only-jwt-signing-key-not-for-production',
  'change-me-to-a-long-random-string',
  'please-change-me-to-a-random-32-byte-secret',
];

const SECRET_NAMES = [
  'DATABASE_URL',
  'DATABASE_PASSWORD',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'CACHE_REDIS_URL',
  'API_SECRET_KEY',
  'ADMIN_PASSWORD',
] as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const intIn = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an integer between ${min} and ${max}, got "${v}"` });
        return z.NEVER;
      }
      const n = Number(v.trim());
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be between ${min} and ${max}, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const bool = (name: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return false;
      const s = v.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${v}"` });
      return z.NEVER;
    });

const envSchema = z.object({
  PORT: intIn('PORT', 0, 65535, 8000),
  ENVIRONMENT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined || v === '' ? 'development' : v;
      if (s === 'development' || s === 'production' || s === 'test') return s as Environment;
      ctx.addIssue({ code: 'custom', message: `ENVIRONMENT must be development, production or test, got "${v}"` });
      return z.NEVER;
    }),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined || v === '' ? 'info' : v.toLowerCase();
      if ((LOG_LEVELS as readonly string[]).includes(s)) return s;
      ctx.addIssue({ code: 'custom', message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${v}"` });
      return z.NEVER;
    }),
  DATABASE_POOL_MAX: intIn('DATABASE_POOL_MAX', 1, 1000, 10),
  DATABASE_POOL_TIMEOUT_MS: intIn('DATABASE_POOL_TIMEOUT_MS', 100, 60_000, 8_000),
  JWT_TTL_SECONDS: intIn('JWT_TTL_SECONDS', 60, 30 * 24 * 3600, 3600),
  RATE_LIMIT_AUTH_PER_MINUTE: intIn('RATE_LIMIT_AUTH_PER_MINUTE', 0, 1_000_000, 10),
  RATE_LIMIT_PER_MINUTE: intIn('RATE_LIMIT_PER_MINUTE', 0, 100_000_000, 600),
  TRUST_PROXY: bool('TRUST_PROXY'),
  ACCESS_LOG_READS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined || v === '' ? 'info' : v.toLowerCase();
      if (s === 'info' || s === 'debug') return s as 'info' | 'debug';
      ctx.addIssue({ code: 'custom', message: `ACCESS_LOG_READS must be info or debug, got "${v}"` });
      return z.NEVER;
    }),
  SHUTDOWN_TIMEOUT_MS: intIn('SHUTDOWN_TIMEOUT_MS', 0, 600_000, 10_000),
  MIGRATE_ON_START: bool('MIGRATE_ON_START'),
  SEED_SAMPLE_DATA: bool('SEED_SAMPLE_DATA'),
  APP_VERSION: z.string().optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined ? 'shop:' : v;
      if (/^[A-Za-z0-9:_.-]{0,64}$/.test(s)) return s;
      ctx.addIssue({ code: 'custom', message: `REDIS_KEY_PREFIX must be at most 64 characters of [A-Za-z0-9:_.-], got "${v}"` });
      return z.NEVER;
    }),
  ADMIN_USERNAME: z.string().optional(),
  ADMIN_EMAIL: z.string().optional(),
  DATABASE_DIR: z.string().optional(),
  API_SOCKET_DIR: z.string().optional(),
  API_SOCKET_SLOTS: intIn('API_SOCKET_SLOTS', 1, 256, 16),
});

/** Reads NAME or NAME_FILE (one trailing newline trimmed); both set is an error, since one would silently win. */
function readSecrets(env: NodeJS.ProcessEnv, problems: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of SECRET_NAMES) {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    const hasDirect = direct !== undefined && direct !== '';
    const hasFile = file !== undefined && file !== '';
    if (hasDirect && hasFile) {
      problems.push(`${name} and ${name}_FILE are both set: set only one of them`);
      continue;
    }
    if (hasFile) {
      try {
        out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        if (out[name] === '') problems.push(`${name}_FILE (${file}) is empty`);
      } catch (err) {
        problems.push(`${name}_FILE (${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    } else if (hasDirect) {
      out[name] = direct;
    }
  }
  return out;
}

function withPassword(name: string, url: string, password: string | undefined, protocols: string[], problems: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`${name} is not a valid URL (expected ${protocols[0]}//user@host:port/...)`);
    return url;
  }
  if (!protocols.includes(parsed.protocol)) {
    problems.push(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got "${parsed.protocol}//"`);
    return url;
  }
  if (password !== undefined) parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

export function defaultDatabaseDir(): string {
  // api/dist/config.js (or api/src/config.ts) -> <repo>/database/
  return fileURLToPath(new URL('../../database/', import.meta.url));
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Environment -> frozen config. `migrate` needs only the database (and the optional first admin);
 * `server` also needs Redis and the signing key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, purpose: ConfigPurpose = 'server'): Config {
  const problems: string[] = [];
  const secrets = readSecrets(env, problems);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(issue.message);
  }

  let databaseUrl = '';
  if (secrets.DATABASE_URL === undefined) {
    if (!problems.some((p) => p.startsWith('DATABASE_URL'))) {
      problems.push('DATABASE_URL is required (postgres://user@host:5432/db), or DATABASE_URL_FILE naming a file that holds it');
    }
  } else {
    databaseUrl = withPassword('DATABASE_URL', secrets.DATABASE_URL, secrets.DATABASE_PASSWORD, ['postgres:', 'postgresql:'], problems);
  }

  let redisUrl = '';
  let cacheRedisUrl = '';
  let apiSecretKey = '';
  if (purpose === 'server') {
    if (secrets.REDIS_URL === undefined) {
      if (!problems.some((p) => p.startsWith('REDIS_URL'))) {
        problems.push('REDIS_URL is required (redis://[:password@]host:6379[/db]), or REDIS_URL_FILE naming a file that holds it');
      }
    } else {
      redisUrl = withPassword('REDIS_URL', secrets.REDIS_URL, secrets.REDIS_PASSWORD, ['redis:', 'rediss:'], problems);
    }
    cacheRedisUrl =
      secrets.CACHE_REDIS_URL === undefined
        ? redisUrl
        : withPassword('CACHE_REDIS_URL', secrets.CACHE_REDIS_URL, secrets.REDIS_PASSWORD, ['redis:', 'rediss:'], problems);
    apiSecretKey = secrets.API_SECRET_KEY ?? '';
    // Read on its own: another invalid variable must not hide the production checks.
    const environment = env.ENVIRONMENT === 'production' ? 'production' : 'other';
    if (apiSecretKey === '') {
      if (!problems.some((p) => p.startsWith('API_SECRET_KEY'))) {
        problems.push('API_SECRET_KEY is required (JWT signing key; e.g. `openssl rand -base64 48`), or API_SECRET_KEY_FILE');
      }
    } else if (environment === 'production') {
      if (Buffer.byteLength(apiSecretKey, 'utf8') < 32) {
        problems.push(`API_SECRET_KEY must be at least 32 bytes in production (got ${Buffer.byteLength(apiSecretKey, 'utf8')}); generate one with \`openssl rand -base64 48\``);
      }
      if (KNOWN_DEFAULT_SECRETS.includes(apiSecretKey.trim().toLowerCase()) || KNOWN_DEFAULT_SECRETS.includes(apiSecretKey.trim())) {
        problems.push('API_SECRET_KEY is a known default value: generate a fresh one with `openssl rand -base64 48`');
      }
    }
  }

  let admin: Config['admin'] = null;
  const adminUsername = env.ADMIN_USERNAME?.trim() || undefined;
  const adminEmail = env.ADMIN_EMAIL?.trim() || undefined;
  const adminPassword = secrets.ADMIN_PASSWORD;
  const adminParts = [adminUsername, adminEmail, adminPassword].filter((v) => v !== undefined).length;
  if (adminParts === 3) {
    if (!/^[A-Za-z0-9_.-]{3,50}$/.test(adminUsername!)) problems.push('ADMIN_USERNAME must be 3-50 characters of letters, digits, "_", "." or "-"');
    if (!z.email().safeParse(adminEmail).success) problems.push(`ADMIN_EMAIL is not a valid e-mail address: "${adminEmail}"`);
    if (adminPassword!.length < 8) problems.push('ADMIN_PASSWORD must be at least 8 characters');
    admin = { username: adminUsername!, email: adminEmail!, password: adminPassword! };
  } else if (adminParts > 0 && purpose === 'migrate') {
    const missing = [
      adminUsername === undefined ? 'ADMIN_USERNAME' : null,
      adminEmail === undefined ? 'ADMIN_EMAIL' : null,
      adminPassword === undefined ? 'ADMIN_PASSWORD' : null,
    ].filter(Boolean);
    problems.push(`the first admin needs ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD together; missing: ${missing.join(', ')}`);
  }

  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  return Object.freeze({
    port: e.PORT,
    environment: e.ENVIRONMENT,
    logLevel: e.LOG_LEVEL,
    databaseUrl,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databasePoolTimeoutMs: e.DATABASE_POOL_TIMEOUT_MS,
    redisUrl,
    cacheRedisUrl,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    apiSecretKey,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    admin: admin === null ? null : Object.freeze(admin),
    rateLimitAuthPerMinute: e.RATE_LIMIT_AUTH_PER_MINUTE,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    trustProxy: e.TRUST_PROXY,
    accessLogReads: e.ACCESS_LOG_READS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    socketDir: e.API_SOCKET_DIR?.trim() || undefined,
    socketSlots: e.API_SOCKET_SLOTS,
    migrateOnStart: e.MIGRATE_ON_START,
    seedSampleData: e.SEED_SAMPLE_DATA,
    appVersion: e.APP_VERSION?.trim() || packageVersion(),
    databaseDir: e.DATABASE_DIR?.trim() || defaultDatabaseDir(),
  });
}
