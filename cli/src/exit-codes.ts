/** Every exit code shopctl returns; docs/operations.md has the same table. */
export const ExitCode = {
  /** Everything asked for was done (or, for checks, everything passed). */
  OK: 0,
  /** The operation failed; the message says what and what was left as it was. */
  FAILURE: 1,
  /** Bad arguments or flags. */
  USAGE: 2,
  /** Preflight refused: engine unreachable, compose config invalid, env file incomplete, weak secrets. */
  PREFLIGHT: 3,
  /** Another deploy or backup holds the lock. */
  LOCKED: 4,
  /** The new version failed after it started; it was removed and the previous one kept serving. */
  ROLLED_BACK: 5,
  /** A service or the API is not healthy (health, or after a restore/first deploy). */
  UNHEALTHY: 6,
  /** `verify` found at least one failing check. */
  VERIFY_FAILED: 7,
  /** A backup file failed its checksum or could not be read by pg_restore; an off-host copy failed authentication (wrong key, altered, truncated). */
  INTEGRITY: 8,
  /** A named release, image, backup file or container does not exist. */
  NOT_FOUND: 9,
  /** Refused to act without confirmation: existing files without --force, no TTY without --yes, answer no. */
  REFUSED: 10,
  /** Interrupted by SIGINT/SIGTERM. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Name of an exit code for JSON output ("LOCKED"), stable for scripts. */
export function exitCodeName(code: number): string {
  for (const [name, value] of Object.entries(ExitCode)) if (value === code) return name;
  return 'FAILURE';
}
