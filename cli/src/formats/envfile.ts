/** A `.env` file as lines, so rendering keeps the template's comments and order. */
export type EnvLine =
  | { kind: 'entry'; key: string; value: string; raw: string; line: number }
  | { kind: 'other'; raw: string; line: number };

export interface EnvProblem {
  line: number;
  message: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Placeholder in templates/.env.* that `shopctl init` replaces with a fresh random secret. */
export const GENERATE = '__GENERATE__';

/**
 * Parses the subset of dotenv syntax that Compose v1 and v2 read the same way:
 * `KEY=value`, optional `export `, `#` comments, single quotes (literal), double quotes
 * (with \n \" \\ escapes), and ` #` comments after unquoted values.
 */
export function parseEnvFile(text: string): { lines: EnvLine[]; problems: EnvProblem[] } {
  const lines: EnvLine[] = [];
  const problems: EnvProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      lines.push({ kind: 'other', raw, line });
      return;
    }
    const body = trimmed.startsWith('export ') ? trimmed.slice(7).trimStart() : trimmed;
    const eq = body.indexOf('=');
    if (eq <= 0) {
      problems.push({ line, message: `line ${line}: expected KEY=value, got "${truncate(trimmed)}"` });
      lines.push({ kind: 'other', raw, line });
      return;
    }
    const key = body.slice(0, eq).trim();
    if (!KEY.test(key)) {
      problems.push({ line, message: `line ${line}: "${truncate(key)}" is not a valid variable name` });
      lines.push({ kind: 'other', raw, line });
      return;
    }
    const parsed = parseValue(body.slice(eq + 1));
    if (parsed.error) problems.push({ line, message: `line ${line} (${key}): ${parsed.error}` });
    lines.push({ kind: 'entry', key, value: parsed.value, raw, line });
  });
  // A trailing newline yields one empty "line" that is not part of the file.
  if (text.endsWith('\n') && lines.at(-1)?.kind === 'other' && lines.at(-1)?.raw === '') lines.pop();
  return { lines, problems };
}

function parseValue(rest: string): { value: string; error?: string } {
  const v = rest.trimStart();
  if (v.startsWith("'")) {
    const end = v.indexOf("'", 1);
    if (end < 0) return { value: v.slice(1), error: 'unterminated single quote' };
    return { value: v.slice(1, end) };
  }
  if (v.startsWith('"')) {
    let out = '';
    for (let i = 1; i < v.length; i += 1) {
      const c = v[i];
      if (c === '\\' && i + 1 < v.length) {
        const n = v[i + 1];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        i += 1;
      } else if (c === '"') {
        return { value: out };
      } else {
        out += c;
      }
    }
    return { value: out, error: 'unterminated double quote' };
  }
  const hash = v.search(/\s#/);
  return { value: (hash >= 0 ? v.slice(0, hash) : v).trimEnd() };
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Last value wins, as in Compose. */
export function envToMap(lines: readonly EnvLine[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const l of lines) if (l.kind === 'entry') map.set(l.key, l.value);
  return map;
}

/** A value as a dotenv line: bare when safe, otherwise double-quoted with escapes. */
export function formatEnvValue(value: string): string {
  if (/^[A-Za-z0-9_./:@%+,=-]*$/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * Renders env lines back to text. `replace` returns the new value for an entry, `null` to
 * turn the line into a comment (e.g. a secret that lives in a file instead), or undefined
 * to keep the line as it was.
 */
export function renderEnv(lines: readonly EnvLine[], replace: (key: string, value: string) => string | null | undefined): string {
  const out: string[] = [];
  for (const l of lines) {
    if (l.kind === 'other') {
      out.push(l.raw);
      continue;
    }
    const next = replace(l.key, l.value);
    if (next === undefined) out.push(l.raw);
    else if (next === null) out.push(`# ${l.key}: see the secret file (not in this file on purpose)`);
    else out.push(`${l.key}=${formatEnvValue(next)}`);
  }
  return `${out.join('\n')}\n`;
}

/** Sets KEY to value in an env file's text: replaces its last occurrence (keeping every other line) or appends it. */
export function setEnvValue(text: string, key: string, value: string): string {
  const { lines } = parseEnvFile(text);
  const lastIndex = lines.findLastIndex((l) => l.kind === 'entry' && l.key === key);
  if (lastIndex < 0) {
    const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
    return `${base}${key}=${formatEnvValue(value)}\n`;
  }
  const out = lines.map((l, i) => (i === lastIndex ? `${key}=${formatEnvValue(value)}` : l.raw));
  return `${out.join('\n')}\n`;
}

/**
 * What an env file lacks compared with its template: keys the template has and the file
 * does not, and placeholders never replaced. `external` keys live elsewhere (secret files).
 */
export function missingFromEnv(template: readonly EnvLine[], env: ReadonlyMap<string, string>, external: ReadonlySet<string> = new Set()): string[] {
  const missing: string[] = [];
  for (const l of template) {
    if (l.kind !== 'entry' || external.has(l.key)) continue;
    if (!env.has(l.key)) missing.push(`${l.key} is missing`);
    else if (env.get(l.key) === GENERATE) missing.push(`${l.key} is still ${GENERATE} (run shopctl init)`);
    else if (l.value === GENERATE && env.get(l.key) === '') missing.push(`${l.key} is empty`);
  }
  return missing;
}
