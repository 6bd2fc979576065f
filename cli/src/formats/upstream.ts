/**
 * Nginx 1.22 resolves `server api:8000` once, at (re)load. During a rolling deploy shopctl
 * rewrites the `server` lines of the `api` upstream in /etc/nginx/conf.d/api-upstream.conf
 * and keeps everything else in that file (keepalive, keepalive_timeout, ...) as the stack wrote it.
 */
export const UPSTREAM_FILE = '/etc/nginx/conf.d/api-upstream.conf';
export const UPSTREAM_NAME = 'api';
export const SERVICE_ADDRESS = 'api:8000';

export interface UpstreamServer {
  address: string;
  params: string;
}

/** Parses the `server` entries of one upstream block; undefined when the block is absent. */
export function readUpstreamServers(config: string, name = UPSTREAM_NAME): UpstreamServer[] | undefined {
  const block = findBlock(config, name);
  if (!block) return undefined;
  return statements(block.body)
    .map((stmt) => /^server\s+(\S+)\s*(.*)$/s.exec(stmt))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ address: m[1] ?? '', params: (m[2] ?? '').replace(/\s+/g, ' ').trim() }));
}

/**
 * Replaces the server lines of `upstream <name> { ... }` with one line per address, keeping
 * its other directives. Parameters of the first existing server line (max_fails=...) are
 * kept on every new line. Comments inside the block are dropped (the file is runtime state).
 */
export function replaceUpstreamServers(config: string, addresses: readonly string[], name = UPSTREAM_NAME): string {
  if (addresses.length === 0) throw new Error('an upstream needs at least one server');
  for (const a of addresses) {
    if (!/^[A-Za-z0-9.:[\]_-]+$/.test(a)) throw new Error(`not a server address: ${JSON.stringify(a)}`);
  }
  const block = findBlock(config, name);
  if (!block) throw new Error(`no "upstream ${name} { ... }" block in the nginx upstream file`);
  const params = readUpstreamServers(config, name)?.[0]?.params ?? '';
  const others = statements(block.body).filter((stmt) => !/^server\s/.test(stmt));
  const lines = [...addresses.map((a) => `server ${a}${params ? ` ${params}` : ''}`), ...others].map((l) => `    ${l};`);
  return `${config.slice(0, block.bodyStart)}\n${lines.join('\n')}\n${config.slice(block.bodyEnd)}`;
}

/** `IP:8000` for container addresses; IPv6 in brackets. */
export function serverAddress(ip: string, port = 8000): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function findBlock(config: string, name: string): { bodyStart: number; bodyEnd: number; body: string } | undefined {
  const clean = stripComments(config);
  const start = new RegExp(`(^|[\\s;}])upstream\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\{`).exec(clean);
  if (!start) return undefined;
  const bodyStart = start.index + start[0].length;
  const bodyEnd = clean.indexOf('}', bodyStart);
  if (bodyEnd < 0) return undefined;
  return { bodyStart, bodyEnd, body: clean.slice(bodyStart, bodyEnd) };
}

/** `a b; c;` -> ['a b', 'c'], whitespace collapsed. */
function statements(body: string): string[] {
  return body
    .split(';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

/** Blanks out comments (same length, so offsets stay valid). */
function stripComments(config: string): string {
  return config.replace(/#[^\n]*/g, (m) => ' '.repeat(m.length));
}
