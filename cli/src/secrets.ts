import { randomBytes } from 'node:crypto';
import { GENERATE } from './formats/envfile.js';

/** 32 random bytes as base64url: 43 characters, safe in URLs, env files and YAML without quoting. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Values that appear in examples, tutorials and default configs: never acceptable in production. */
const KNOWN_DEFAULTS = [
  'changeme', 'change-me', 'change_me', 'changethis', 'password', 'passw0rd', 'secret', 'admin', 'root',
  'postgres', 'redis', 'example', 'default', 'test', 'letmein', 'qwerty', '123456', '12345678', 'shop',
  'development', 'dev', 'supersecret', 'mysecret', 'secretkey', 'your-secret-key', 'replace-me',
];

/** Minimum length per secret; the API refuses a JWT key below 32 bytes in production. */
export function minimumLength(name: string): number {
  return /secret_key|jwt/i.test(name) ? 32 : 16;
}

/** Why a secret is unacceptable for production, or undefined when it is fine. */
export function secretWeakness(name: string, value: string): string | undefined {
  const v = value.trim();
  if (v === '') return 'is empty';
  if (v === GENERATE) return `is still the ${GENERATE} placeholder (run shopctl init --env production)`;
  const lower = v.toLowerCase();
  if (KNOWN_DEFAULTS.includes(lower) || /change.?me|example|placeholder|default|dev-only|not-for-prod|insecure|password|secret|admin/.test(lower)) return 'is a known default or example value';
  const min = minimumLength(name);
  if (v.length < min) return `is shorter than ${min} characters`;
  if (new Set(v).size < 8) return 'has too little variety (fewer than 8 distinct characters)';
  return undefined;
}

/** Names of env variables whose values are secrets (used by init, preflight and verify). */
export function looksSecret(name: string): boolean {
  if (name.endsWith('_FILE')) return false;
  return /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|API_?KEY|ACCESS_?KEY|CREDENTIAL)/i.test(name);
}

/** A URL with a password in it (`postgres://u:p@h/db`) carries a secret whatever its variable is called. */
export function urlHasPassword(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:[^/@\s]+@/i.test(value);
}
