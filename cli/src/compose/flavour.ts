/** Which Compose CLI drives the stack: v2 (`docker compose`, the plugin) or v1 (`docker-compose`, Python). */
export type ComposeFlavour =
  | { kind: 'v2'; command: 'docker'; prefix: readonly ['compose']; version: string }
  | { kind: 'v1'; command: 'docker-compose'; prefix: readonly []; version: string };

/** A command line: the program and its arguments, never a shell string. */
export type Argv = [command: string, args: string[]];

export function v2(version: string): ComposeFlavour {
  return { kind: 'v2', command: 'docker', prefix: ['compose'], version };
}

export function v1(version: string): ComposeFlavour {
  return { kind: 'v1', command: 'docker-compose', prefix: [], version };
}

/** Tried first: the plugin users have. `--short` prints only the version. */
export function probeV2(): Argv {
  return ['docker', ['compose', 'version', '--short']];
}

/** The fallback: Compose v1 (still common on LTS distributions, and on this project's CI). */
export function probeV1(): Argv {
  return ['docker-compose', ['version', '--short']];
}

/** `v2.29.1` / `2.29.1` / `1.29.2` -> `2.29.1`; undefined when the output is not a version. */
export function parseComposeVersion(stdout: string): string | undefined {
  const m = /v?(\d+\.\d+\.\d+[^\s]*)/.exec(stdout.trim());
  return m?.[1];
}
