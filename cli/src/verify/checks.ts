import type Docker from 'dockerode';
import tls from 'node:tls';
import { looksSecret, urlHasPassword } from '../secrets.js';
import type { CheckResult } from '../formats/junit.js';

/** A check's outcome before timing: the runner adds id, group and duration. */
export interface Verdict {
  status: CheckResult['status'];
  detail: string;
}

export const pass = (detail: string): Verdict => ({ status: 'pass', detail });
export const fail = (detail: string): Verdict => ({ status: 'fail', detail });
export const exempt = (detail: string): Verdict => ({ status: 'exempt', detail });
export const skip = (detail: string): Verdict => ({ status: 'skip', detail });

/** `shopctl.verify.exempt: "read-only: reason; healthcheck: other reason"` -> Map(check -> reason). */
export function parseExemptions(label: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (label ?? '').split(';')) {
    const colon = part.indexOf(':');
    if (colon < 0) continue;
    const reason = part.slice(colon + 1).trim();
    for (const id of part.slice(0, colon).split(',')) if (id.trim() && reason) out.set(id.trim(), reason);
  }
  return out;
}

export interface HardeningContext {
  environment: 'development' | 'production';
  service: string;
  /** Services allowed to publish ports (the proxy; Grafana on loopback in development). */
  proxyService: string;
  /** uid of every process in the container (from the Engine's top), when it runs. */
  processUids: number[] | undefined;
  /** The container is a swarm task (docker stack deploy): some settings exist only daemon-wide there. */
  swarm?: boolean | undefined;
  /** The daemon sets no-new-privileges for every container (`docker info`: name=no-new-privileges). */
  daemonNoNewPrivileges?: boolean | undefined;
}

export type HardeningCheck = { id: string; run: (info: Docker.ContainerInspectInfo, ctx: HardeningContext) => Verdict };

function isRootUser(user: string | undefined): boolean {
  if (!user) return true;
  const name = user.split(':')[0] ?? '';
  return name === '' || name === 'root' || name === '0';
}

/** CIS Docker Benchmark 1.6 section 5 (and 4.1, 4.6), read from `docker inspect` as docker-bench-security does. */
export const HARDENING_CHECKS: HardeningCheck[] = [
  {
    id: 'non-root',
    run: (info, c) => {
      if (!isRootUser(info.Config.User)) return pass(`runs as user ${info.Config.User}`);
      // Official postgres/redis/nginx images start as root and drop privileges in their entrypoint.
      if (c.processUids && c.processUids.length > 0) {
        const root = c.processUids.filter((u) => u === 0).length;
        if (root === 0) return pass(`starts as root, every process runs as uid ${[...new Set(c.processUids)].join(',')}`);
        return fail(`${root} of ${c.processUids.length} process(es) run as root (no user: set, and the entrypoint does not drop privileges)`);
      }
      return fail('no user: set (the container runs as root)');
    },
  },
  { id: 'read-only', run: (info) => (info.HostConfig.ReadonlyRootfs ? pass('read-only root filesystem') : fail('root filesystem is writable (read_only: true + tmpfs)')) },
  {
    id: 'no-new-privileges',
    run: (info, c) => {
      if ((info.HostConfig.SecurityOpt ?? []).some((o: string) => /^no-new-privileges(:true|=true)?$/.test(o))) return pass('no-new-privileges');
      // The daemon-wide setting does not show in the container's SecurityOpt, only in `docker info`.
      if (c.daemonNoNewPrivileges) return pass('no-new-privileges set by the daemon for every container (daemon.json)');
      if (c.swarm) return fail('swarm ignores security_opt: set "no-new-privileges": true in /etc/docker/daemon.json on every node (docs/swarm.md)');
      return fail('security_opt lacks no-new-privileges:true');
    },
  },
  {
    id: 'cap-drop',
    run: (info) => {
      const dropped = (info.HostConfig.CapDrop ?? []).map((c: string) => c.toUpperCase());
      const added = info.HostConfig.CapAdd ?? [];
      if (!dropped.includes('ALL')) return fail(`cap_drop does not include ALL (drops: ${dropped.join(',') || 'none'})`);
      return pass(`cap_drop ALL${added.length ? `, adds back ${added.join(',')}` : ''}`);
    },
  },
  { id: 'memory-limit', run: (info) => (info.HostConfig.Memory && info.HostConfig.Memory > 0 ? pass(`mem_limit ${Math.round(info.HostConfig.Memory / 1048576)} MiB`) : fail('no memory limit (mem_limit)')) },
  {
    id: 'cpu-limit',
    run: (info) => {
      const h = info.HostConfig as Docker.HostConfig & { NanoCpus?: number };
      if (h.NanoCpus && h.NanoCpus > 0) return pass(`cpus ${h.NanoCpus / 1e9}`);
      if (h.CpuQuota && h.CpuQuota > 0) return pass(`cpu quota ${h.CpuQuota}/${h.CpuPeriod ?? 100000}`);
      return fail('no CPU limit (cpus)');
    },
  },
  {
    id: 'pids-limit',
    run: (info, c) => {
      if (info.HostConfig.PidsLimit && info.HostConfig.PidsLimit > 0) return pass(`pids_limit ${info.HostConfig.PidsLimit}`);
      // Documented, not silent: the stack file format (docker stack deploy, CLI 28) rejects both pids keys.
      if (c.swarm) return exempt('no pids limit: docker stack deploy cannot set one (its file format has no pids key; docs/swarm.md)');
      return fail('no pids limit (pids_limit)');
    },
  },
  {
    id: 'healthcheck',
    run: (info) => {
      const test = info.Config.Healthcheck?.Test;
      if (!test || test.length === 0 || test[0] === 'NONE') return fail('no health check');
      return pass(`health check ${(info.State as { Health?: { Status?: string } }).Health?.Status ?? 'present'}`);
    },
  },
  { id: 'not-privileged', run: (info) => (info.HostConfig.Privileged ? fail('privileged: true') : pass('not privileged')) },
  {
    id: 'no-docker-socket',
    run: (info) => {
      const sock = (info.Mounts ?? []).find((m) => /docker\.sock$/.test(m.Source ?? '') || /docker\.sock$/.test(m.Destination ?? ''));
      return sock ? fail(`mounts the Docker socket (${sock.Source} -> ${sock.Destination}): root on the host`) : pass('no Docker socket mounted');
    },
  },
  {
    id: 'host-namespaces',
    run: (info) => {
      const h = info.HostConfig;
      const shared = [h.NetworkMode === 'host' && 'network', h.PidMode === 'host' && 'pid', h.IpcMode === 'host' && 'ipc', (h as { UTSMode?: string }).UTSMode === 'host' && 'uts', h.UsernsMode === 'host' && 'userns'].filter(Boolean);
      return shared.length ? fail(`shares the host's ${shared.join(', ')} namespace`) : pass('own namespaces');
    },
  },
  {
    id: 'published-ports',
    run: (info, c) => {
      const bindings = Object.entries(info.HostConfig.PortBindings ?? {}).flatMap(([port, bs]) => ((bs as Array<{ HostIp?: string; HostPort?: string }> | null) ?? []).filter((b) => b.HostPort).map((b) => ({ port, ip: b.HostIp || '0.0.0.0', hostPort: b.HostPort })));
      if (bindings.length === 0) return pass('publishes no port');
      const list = bindings.map((b) => `${b.ip}:${b.hostPort}->${b.port}`).join(', ');
      if (c.service === c.proxyService) return pass(`the proxy publishes ${list}`);
      const loopbackOnly = bindings.every((b) => b.ip === '127.0.0.1' || b.ip === '::1');
      if (c.environment === 'development' && loopbackOnly) return exempt(`development: publishes ${list} on loopback only`);
      return fail(`publishes ${list}: only the proxy may publish ports`);
    },
  },
  {
    id: 'no-secrets-in-env',
    run: (info, c) => {
      const names = (info.Config.Env ?? [])
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const)
        .filter(([k, v]) => v !== '' && (looksSecret(k) || urlHasPassword(v)))
        .map(([k]) => k);
      if (names.length === 0) return pass('no secret-looking values in the environment (secrets come from *_FILE)');
      // Names only, never values.
      if (c.environment === 'development') return exempt(`development keeps secrets in .env by design: ${names.join(', ')} (production must use *_FILE)`);
      return fail(`secret-looking values in the environment: ${names.join(', ')} (visible to docker inspect): use *_FILE and Compose secrets`);
    },
  },
];

/** Negotiates TLS with limits on the protocol; resolves with what was agreed, rejects when the server refuses. */
export function tlsHandshake(opts: { host: string; port: number; servername?: string | undefined; minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; alpn?: string[]; timeoutMs?: number }): Promise<{ protocol: string | null; alpn: string | false | null; authorized: boolean; authorizationError?: string; cert: tls.PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      servername: opts.servername,
      rejectUnauthorized: false,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      ALPNProtocols: opts.alpn,
      // Allow the client to offer old protocols at all (OpenSSL 3 forbids them at level 1+).
      ...(opts.maxVersion && opts.maxVersion < 'TLSv1.2' ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {}),
    });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${opts.timeoutMs ?? 5000} ms`)), opts.timeoutMs ?? 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result = {
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        authorized: socket.authorized,
        ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        cert: socket.getPeerCertificate(),
      };
      socket.end();
      resolve(result);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Security headers OWASP and Mozilla recommend, judged on one response. */
export function headerChecks(headers: Record<string, string | string[] | undefined>, environment: 'development' | 'production'): Array<{ id: string; verdict: Verdict }> {
  const h = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const out: Array<{ id: string; verdict: Verdict }> = [];
  const hsts = h('strict-transport-security');
  const maxAge = Number(/max-age=(\d+)/i.exec(hsts ?? '')?.[1] ?? NaN);
  const minAge = environment === 'production' ? 15_768_000 : 1;
  out.push({
    id: 'hsts',
    verdict: !hsts ? fail('no Strict-Transport-Security') : maxAge >= minAge ? pass(hsts) : fail(`max-age ${maxAge} below ${minAge} s (${environment})`),
  });
  const csp = h('content-security-policy');
  out.push({
    id: 'csp',
    verdict: !csp ? fail('no Content-Security-Policy') : /default-src/.test(csp) && !/default-src[^;]*\*/.test(csp) && !/script-src[^;]*'unsafe-inline'/.test(csp) ? pass(csp) : fail(`too permissive: ${csp}`),
  });
  out.push({ id: 'nosniff', verdict: h('x-content-type-options')?.toLowerCase() === 'nosniff' ? pass('X-Content-Type-Options: nosniff') : fail('X-Content-Type-Options is not nosniff') });
  const xfo = h('x-frame-options');
  out.push({
    id: 'framing',
    verdict: /^(deny|sameorigin)$/i.test(xfo ?? '') || /frame-ancestors\s+('none'|'self')/.test(csp ?? '') ? pass(xfo ? `X-Frame-Options: ${xfo}` : "CSP frame-ancestors") : fail('neither X-Frame-Options nor CSP frame-ancestors'),
  });
  const rp = h('referrer-policy');
  out.push({ id: 'referrer-policy', verdict: rp && !/unsafe-url|no-referrer-when-downgrade/i.test(rp) ? pass(rp) : fail(rp ? `weak Referrer-Policy: ${rp}` : 'no Referrer-Policy') });
  const pp = h('permissions-policy');
  out.push({ id: 'permissions-policy', verdict: pp ? pass(pp) : fail('no Permissions-Policy') });
  const server = h('server');
  const powered = h('x-powered-by');
  out.push({
    id: 'no-version-disclosure',
    verdict: powered ? fail(`X-Powered-By: ${powered}`) : server && /\d/.test(server) ? fail(`Server: ${server} discloses a version`) : pass(`Server: ${server ?? '(none)'}, no X-Powered-By`),
  });
  return out;
}
