import test from 'ava';
import type Docker from 'dockerode';
import { HARDENING_CHECKS, headerChecks, parseExemptions, type HardeningContext } from '../../cli/src/verify/checks.js';

/** The parts of `docker inspect` the checks read, for a well-hardened container. */
function inspect(over: { config?: Partial<Docker.ContainerInspectInfo['Config']>; host?: Record<string, unknown>; mounts?: unknown[] } = {}): Docker.ContainerInspectInfo {
  return {
    Config: { User: '1000:1000', Env: ['PATH=/usr/bin', 'DATABASE_PASSWORD_FILE=/run/secrets/pg'], Healthcheck: { Test: ['CMD', 'true'] }, Labels: {}, ...over.config },
    HostConfig: {
      ReadonlyRootfs: true,
      SecurityOpt: ['no-new-privileges:true'],
      CapDrop: ['ALL'],
      CapAdd: null,
      Memory: 512 * 1048576,
      NanoCpus: 1e9,
      PidsLimit: 128,
      Privileged: false,
      NetworkMode: 'shop_backend',
      PortBindings: {},
      ...over.host,
    },
    Mounts: over.mounts ?? [],
    State: { Health: { Status: 'healthy' } },
  } as unknown as Docker.ContainerInspectInfo;
}

const ctx = (over: Partial<HardeningContext> = {}): HardeningContext => ({ environment: 'production', service: 'api', proxyService: 'proxy', processUids: [1000, 1000], ...over });

function run(info: Docker.ContainerInspectInfo, c = ctx()) {
  return Object.fromEntries(HARDENING_CHECKS.map((check) => [check.id, check.run(info, c)]));
}

test('a hardened container passes every check', (t) => {
  for (const [id, v] of Object.entries(run(inspect()))) t.is(v.status, 'pass', `${id}: ${v.detail}`);
});

test('no limits, root, writable, privileged, docker.sock, host network: each check names its problem', (t) => {
  const r = run(
    inspect({
      config: { User: '', Healthcheck: undefined },
      host: { ReadonlyRootfs: false, SecurityOpt: [], CapDrop: null, Memory: 0, NanoCpus: 0, PidsLimit: null, Privileged: true, NetworkMode: 'host', PortBindings: { '5432/tcp': [{ HostIp: '', HostPort: '5432' }] } },
      mounts: [{ Source: '/var/run/docker.sock', Destination: '/var/run/docker.sock' }],
    }),
    ctx({ processUids: [0, 0] }),
  );
  for (const [id, v] of Object.entries(r)) if (id !== 'no-secrets-in-env') t.is(v.status, 'fail', id);
  t.regex(r['non-root']?.detail ?? '', /2 of 2 process\(es\) run as root/);
  t.regex(r['memory-limit']?.detail ?? '', /no memory limit/);
  t.regex(r['published-ports']?.detail ?? '', /0\.0\.0\.0:5432->5432\/tcp: only the proxy may publish ports/);
  t.regex(r['no-docker-socket']?.detail ?? '', /docker\.sock/);
  t.regex(r['host-namespaces']?.detail ?? '', /network/);
});

test('an image that starts as root and drops privileges passes by its real process users', (t) => {
  t.is(run(inspect({ config: { User: '' } }), ctx({ processUids: [70, 70, 70] }))['non-root']?.status, 'pass');
  t.is(run(inspect({ config: { User: 'root' } }), ctx({ processUids: undefined }))['non-root']?.status, 'fail');
});

test('secrets in the environment: a failure in production (names only), documented in development', (t) => {
  const info = inspect({ config: { Env: ['POSTGRES_PASSWORD=hunter2hunter2', 'DATABASE_URL=postgres://u:p4ss@db/shop', 'POSTGRES_PASSWORD_FILE=/run/secrets/x'] } });
  const prod = run(info)['no-secrets-in-env'];
  t.is(prod?.status, 'fail');
  t.regex(prod?.detail ?? '', /POSTGRES_PASSWORD, DATABASE_URL/);
  t.notRegex(prod?.detail ?? '', /hunter2|p4ss/);
  t.is(run(info, ctx({ environment: 'development' }))['no-secrets-in-env']?.status, 'exempt');
});

test('only the proxy publishes; loopback-only ports of a development tool are an explicit exemption', (t) => {
  const grafana = inspect({ host: { PortBindings: { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '3000' }] } } });
  t.is(run(grafana, ctx({ service: 'grafana', environment: 'development' }))['published-ports']?.status, 'exempt');
  t.is(run(grafana, ctx({ service: 'grafana', environment: 'production' }))['published-ports']?.status, 'fail');
  t.is(run(inspect({ host: { PortBindings: { '8443/tcp': [{ HostIp: '0.0.0.0', HostPort: '443' }] } } }), ctx({ service: 'proxy' }))['published-ports']?.status, 'pass');
});

test('exemption labels: check ids with a reason, several per label', (t) => {
  const m = parseExemptions('healthcheck: FROM scratch, no shell; read-only,non-root: needs to write /var/lib/x');
  t.is(m.get('healthcheck'), 'FROM scratch, no shell');
  t.is(m.get('read-only'), 'needs to write /var/lib/x');
  t.is(m.get('non-root'), 'needs to write /var/lib/x');
  t.is(parseExemptions('no reason given').size, 0);
  t.is(parseExemptions(undefined).size, 0);
});

const goodHeaders = {
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'content-security-policy': "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'permissions-policy': 'camera=()',
  server: 'nginx',
};

test('security headers: all present passes', (t) => {
  for (const h of headerChecks(goodHeaders, 'production')) t.is(h.verdict.status, 'pass', `${h.id}: ${h.verdict.detail}`);
});

test('security headers: short HSTS in production, inline scripts, versions, missing headers fail', (t) => {
  const r = Object.fromEntries(
    headerChecks({ 'strict-transport-security': 'max-age=300', 'content-security-policy': "default-src 'self'; script-src 'self' 'unsafe-inline'", server: 'nginx/1.22.1', 'x-powered-by': 'Koa' }, 'production').map((h) => [h.id, h.verdict]),
  );
  t.is(r.hsts?.status, 'fail');
  t.is(r.csp?.status, 'fail');
  t.is(r.nosniff?.status, 'fail');
  t.is(r.framing?.status, 'fail');
  t.is(r['referrer-policy']?.status, 'fail');
  t.is(r['permissions-policy']?.status, 'fail');
  t.regex(r['no-version-disclosure']?.detail ?? '', /X-Powered-By: Koa/);
  t.is(headerChecks({ ...goodHeaders, 'strict-transport-security': 'max-age=300' }, 'development')[0]?.verdict.status, 'pass');
});
