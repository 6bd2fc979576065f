// The Compose stack, end to end on a real Docker Engine: builds the API image, starts
// docker-compose.yml (with the monitoring profile) under its own project name and free
// ports, and checks what a user and an operator would: health, HTTPS over HTTP/2,
// headers, the storefront and /docs, a whole purchase through Nginx, container hardening,
// network isolation, the rolling-deploy hook, graceful stop and data surviving down + up.
// Everything it started is removed at the end, also when a check fails.
//
// Images come from the environment (*_IMAGE, e.g. the offline stand-ins); unset, the
// compose defaults (official images) are used. Grafana is left out when its image can be
// neither found nor pulled.
import { randomBytes, randomUUID } from 'node:crypto';
import tls from 'node:tls';
import test from 'ava';
import { execa } from 'execa';
import YAML from 'yaml';
import { ComposeStack, sleep } from './lib/stack.js';
import { H2Client, httpGet } from './lib/http.js';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";
const BUSYBOX = process.env.BUSYBOX_IMAGE ?? 'busybox:1.37';
const MB = 1_000_000;

let stack: ComposeStack;
let client: H2Client;
let services: string[] = [];
let logsShown = false;
const timings: Record<string, string> = {};
const shopper = {
  username: `e2e_${randomBytes(4).toString('hex')}`,
  email: `e2e_${randomBytes(4).toString('hex')}@example.com`,
  password: 'correct horse battery staple',
};
const state: { orderId?: number; orderTotal?: string; redisValue?: string } = {};

function note(key: string, value: string): void {
  timings[key] = value;
  console.log(`[stack e2e] ${key}: ${value}`);
}

/** Polls https /health (a new connection each time) until it answers 200; ms since `since`. */
async function firstHttps200(since: number, timeoutMs = 300_000): Promise<number> {
  while (Date.now() - since < timeoutMs) {
    const probe = new H2Client(stack.origin);
    try {
      if ((await probe.request('/health', { timeoutMs: 2000 })).status === 200) return Date.now() - since;
    } catch {
      // not listening yet
    } finally {
      probe.close();
    }
    await sleep(250);
  }
  return Number.NaN;
}

async function imageAvailable(image: string): Promise<boolean> {
  if ((await execa('docker', ['image', 'inspect', image], { reject: false })).exitCode === 0) return true;
  return (await execa('docker', ['pull', image], { reject: false, timeout: 300_000 })).exitCode === 0;
}

test.before(async () => {
  const started = Date.now();
  const gitSha = await execa('git', ['rev-parse', 'HEAD'], { reject: false });
  stack = await ComposeStack.create({
    prefix: 'e2e-stack',
    profiles: ['monitoring'],
    env: {
      GIT_SHA: gitSha.exitCode === 0 ? gitSha.stdout.trim() : 'unknown',
      // The API's own login limit stays out of the way, so Nginx's /auth/ limit is what answers 429.
      RATE_LIMIT_AUTH_PER_MINUTE: '1000',
    },
  });
  const config = await stack.compose(['config']);
  if (config.exitCode !== 0) throw new Error(`compose config failed:\n${config.stderr}`);
  const model = YAML.parse(config.stdout) as { services: Record<string, { image?: string }> };
  services = Object.keys(model.services).sort();
  const grafanaImage = model.services.grafana?.image;
  if (grafanaImage && !(await imageAvailable(grafanaImage))) {
    services = services.filter((s) => s !== 'grafana');
    note('grafana', `left out: image ${grafanaImage} can be neither found nor pulled`);
  }
  note('api image build', `${((await stack.build(['api'])) / 1000).toFixed(1)} s`);
  const upStarted = Date.now();
  const serving = firstHttps200(upStarted);
  note('time to healthy (first start: init, migrations, sample data)', `${((await stack.up({ services })) / 1000).toFixed(1)} s`);
  note('time to the first https 200 from Nginx (first start)', `${((await serving) / 1000).toFixed(1)} s`);
  client = new H2Client(stack.origin);
  note('setup total', `${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.afterEach.always(async (t) => {
  if (t.passed || logsShown || !stack) return;
  logsShown = true;
  const logs = await stack.compose(['logs', '--no-color', '--tail', '40']);
  console.log(`[stack e2e] logs after "${t.title}" failed:\n${logs.stdout}`);
});

test.after.always(async () => {
  client?.close();
  await stack?.destroy();
  console.log(`[stack e2e] summary: ${JSON.stringify(timings, null, 2)}`);
});

test.serial('every service reports healthy (the one-shot tls and storefront helpers exited 0)', async (t) => {
  const seen = new Set<string>();
  for (const c of await stack.inspect()) {
    const service = c.Config.Labels['com.docker.compose.service']!;
    seen.add(service);
    if (service === 'tls' || service === 'storefront') {
      t.like(c.State, { Status: 'exited', ExitCode: 0 }, service);
      continue;
    }
    t.true(c.State.Running, `${service} is running`);
    const check = c.Config.Healthcheck?.Test;
    if (check?.[0] === 'NONE') {
      // Only nginx-exporter: its official image is FROM scratch (docs/stack.md, exceptions).
      t.is(service, 'nginx-exporter');
    } else {
      t.is(c.State.Health?.Status, 'healthy', `${service} is healthy`);
    }
  }
  t.deepEqual([...seen].sort(), services);
});

test.serial('the API image: at most 40 MB above its base, non-root, a health check that tells ready from down, labels, nothing but runtime files', async (t) => {
  const image = await stack.docker.getImage(stack.apiImage).inspect();
  t.is(image.Config.User, '1000:1000');
  t.is((image.Config as { StopSignal?: string }).StopSignal, 'SIGTERM');
  t.deepEqual(image.Config.Healthcheck?.Test, ['CMD', 'sh', '/app/healthcheck.sh'], 'HEALTHCHECK runs the probe script');
  // The probe tells a ready API from one that does not answer (a port nothing listens on).
  t.is((await stack.exec('api', ['sh', '/app/healthcheck.sh'])).exitCode, 0, 'the probe passes against the ready API');
  t.not((await stack.exec('api', ['sh', '/app/healthcheck.sh'], { env: { PORT: '1' } })).exitCode, 0, 'the probe fails where nothing answers');
  t.like(image.Config.Labels, {
    'org.opencontainers.image.version': stack.env.APP_VERSION,
    'org.opencontainers.image.revision': stack.env.GIT_SHA,
  });
  t.true('org.opencontainers.image.source' in (image.Config.Labels ?? {}));

  // Layers above the base image: everything newer than the final stage's WORKDIR.
  const history = await execa('docker', ['history', '--no-trunc', '--human=false', '--format', '{{.Size}}\t{{.CreatedBy}}', stack.apiImage]);
  const rows = history.stdout.split('\n').map((line) => {
    const [size, ...rest] = line.split('\t');
    return { size: Number(size), createdBy: rest.join('\t') };
  });
  const base = rows.findIndex((r) => /WORKDIR \/app/.test(r.createdBy));
  t.true(base > 0, 'the final stage starts with WORKDIR /app');
  const added = rows.slice(0, base + 1).reduce((sum, r) => sum + r.size, 0);
  note('API image: layers above the base image', `${(added / MB).toFixed(1)} MB (docker history)`);
  t.true(added <= 40 * MB, `${added} bytes added`);

  const contents = await execa(
    'docker',
    ['run', '--rm', '--entrypoint', 'sh', stack.apiImage, '-c', 'find /app -name "*.map" -o -name "*.ts" -o -name "*.test.*" | head -5; ls node_modules/typescript node_modules/ava node_modules/tsx api/src 2>/dev/null; ls /app'],
    { reject: false },
  );
  t.is(contents.exitCode, 0, contents.stderr);
  // storefront/: the built web pages (no maps or sources) that the storefront service copies for Nginx;
  // healthcheck.sh: the HEALTHCHECK's probe.
  t.deepEqual(contents.stdout.trim().split('\n').sort(), ['api', 'database', 'healthcheck.sh', 'node_modules', 'storefront'], 'no maps, sources, tests or dev tools');
});

test.serial('https /health through Nginx answers 200 over HTTP/2 with the development certificate', async (t) => {
  t.is(await client.alpn(), 'h2');
  const r = await client.request('/health');
  t.is(r.status, 200);
  t.is(r.json<{ status: string }>().status, 'ok');
  t.is(r.headers['content-type'], 'application/json; charset=utf-8');

  const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: stack.httpsPort, servername: 'localhost', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.once('error', reject);
  });
  t.regex(cert.subjectaltname ?? '', /DNS:localhost/);
  t.true(Date.parse(cert.valid_to) > Date.now() + 30 * 86_400_000, 'valid for at least 30 more days');
});

test.serial('http:// redirects to https:// on the published HTTPS port', async (t) => {
  const r = await httpGet(`http://127.0.0.1:${stack.httpPort}/products?limit=1`);
  t.is(r.status, 301);
  t.is(r.headers.location, `https://127.0.0.1:${stack.httpsPort}/products?limit=1`);
});

test.serial('security headers on API answers, static files and Nginx errors alike', async (t) => {
  for (const path of ['/health', '/', '/assets/app.js', '/metrics', '/no-such-route']) {
    const r = await client.request(path);
    const h = r.headers;
    t.regex(h['strict-transport-security'] ?? '', /^max-age=\d+; includeSubDomains$/, path);
    t.is(h['content-security-policy'], CSP, path);
    t.is(h['x-content-type-options'], 'nosniff', path);
    t.is(h['x-frame-options'], 'DENY', path);
    t.is(h['referrer-policy'], 'strict-origin-when-cross-origin', path);
    t.regex(h['permissions-policy'] ?? '', /camera=\(\)/, path);
    t.is(h.server, 'nginx', `${path}: no version in Server`);
    t.is(h['x-powered-by'], undefined, path);
    t.regex(h['x-request-id'] ?? '', /^[A-Za-z0-9._:-]{8,128}$/, path);
  }
});

test.serial('the storefront and /docs load through Nginx, with their assets', async (t) => {
  const home = await client.request('/');
  t.is(home.status, 200);
  t.is(home.headers['cache-control'], 'no-store', 'index.html is never cached');
  // The storefront (web/): a module script and a stylesheet whose names carry a content hash.
  const script = home.body.match(/<script type="module" src="(\/assets\/main-[A-Z0-9]{8}\.js)"><\/script>/)?.[1];
  const style = home.body.match(/<link rel="stylesheet" href="(\/assets\/main-[A-Z0-9]{8}\.css)">/)?.[1];
  t.truthy(script, 'index.html loads the hashed script');
  t.truthy(style, 'index.html loads the hashed stylesheet');
  t.notRegex(home.body, /<script>|<script [^>]*>[^<]/, 'no inline script');
  for (const asset of [script!, style!]) {
    const r = await client.request(asset, { headers: { 'accept-encoding': 'gzip' } });
    t.is(r.status, 200, asset);
    t.is(r.headers['cache-control'], 'public, max-age=31536000, immutable', `${asset}: cached for a year`);
    t.is(r.headers['content-encoding'], 'gzip', `${asset} is compressed`);
    t.regex(r.headers['content-security-policy'] ?? '', /script-src 'self'/, `${asset}: security headers too`);
  }
  t.is((await client.request('/assets/main-NOTTHERE.js')).status, 404);
  t.is((await client.request('/favicon.ico')).status, 200);

  // What the page shows: the sample catalogue, loaded on first start.
  const products = await client.request('/products?limit=50');
  t.is(products.status, 200);
  t.true(products.json<{ items: unknown[] }>().items.length > 0, 'sample products are there at once');

  const docs = await client.request('/docs');
  t.is(docs.status, 200);
  t.regex(docs.body, /swagger-ui/);
  const assets = [...docs.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
  t.true(assets.length >= 3);
  for (const asset of assets) {
    const r = await client.request(asset, { headers: { 'accept-encoding': 'gzip' } });
    t.is(r.status, 200, asset);
    if (asset.endsWith('.js') && r.body.length > 1024) t.is(r.headers['content-encoding'], 'gzip', `${asset} is compressed`);
  }
  t.is((await client.request('/openapi.json')).status, 200);
});

test.serial('/metrics is refused through the proxy but served on the backend network', async (t) => {
  for (const path of ['/metrics', '/metrics/', '/%6detrics', '//metrics']) {
    const r = await client.request(path);
    t.is(r.status, 404, path);
    t.is(r.headers['content-type'], 'application/problem+json', path);
    t.notRegex(r.body, /http_requests_total/, path);
  }
  const inside = await stack.probe('backend', BUSYBOX, ['wget', '-q', '-O', '-', 'http://api:8000/metrics']);
  t.is(inside.exitCode, 0, inside.stderr);
  t.regex(inside.stdout, /^http_requests_total\{/m);
});

test.serial('register, log in, add to cart, order, admin marks it paid: all through Nginx', async (t) => {
  const registered = await client.request('/auth/register', { method: 'POST', json: shopper });
  t.is(registered.status, 201, registered.body);
  const login = await client.request('/auth/login', { method: 'POST', json: { username: shopper.username, password: shopper.password } });
  t.is(login.status, 200, login.body);
  const token = login.json<{ access_token: string }>().access_token;

  const list = await client.request('/products?in_stock=true&limit=5');
  const product = list.json<{ items: Array<{ id: number; price: string; stock: number }> }>().items[0];
  if (!product) return t.fail('no product in stock in the sample data');

  const added = await client.request('/cart/add', { method: 'POST', token, json: { product_id: product.id, quantity: 2 } });
  t.true(added.status === 200 || added.status === 201, added.body);

  const requestId = `e2e-${randomBytes(8).toString('hex')}`;
  const key = randomUUID();
  const order = await client.request('/orders', { method: 'POST', token, json: {}, headers: { 'idempotency-key': key, 'x-request-id': requestId } });
  t.is(order.status, 201, order.body);
  t.is(order.headers['x-request-id'], requestId, 'the client request id reaches the API and comes back');
  const placed = order.json<{ id: number; status: string; total: string }>();
  t.is(placed.status, 'pending');
  t.is(placed.total, (Number(product.price) * 2).toFixed(2));
  const replay = await client.request('/orders', { method: 'POST', token, json: {}, headers: { 'idempotency-key': key } });
  t.is(replay.headers['idempotent-replayed'], 'true');
  t.is(replay.json<{ id: number }>().id, placed.id);

  const admin = await client.request('/auth/login', { method: 'POST', json: { username: stack.env.ADMIN_USERNAME, password: stack.env.ADMIN_PASSWORD } });
  t.is(admin.status, 200, admin.body);
  const adminToken = admin.json<{ access_token: string }>().access_token;
  const paid = await client.request(`/orders/${placed.id}/status`, { method: 'PUT', token: adminToken, json: { status: 'paid' } });
  t.is(paid.status, 200, paid.body);
  t.is(paid.json<{ status: string }>().status, 'paid');
  const seen = await client.request(`/orders/${placed.id}`, { token });
  t.is(seen.json<{ status: string }>().status, 'paid');
  state.orderId = placed.id;
  state.orderTotal = placed.total;

  // The same request id in the proxy's access log and the API's log.
  const api = await stack.container('api');
  const proxy = await stack.container('proxy');
  t.regex(await stack.logsMatching(api.Id, new RegExp(requestId)), new RegExp(requestId));
  const inProxy = new RegExp(`"request_id":"${requestId}"`);
  t.regex(await stack.logsMatching(proxy.Id, inProxy), inProxy);
});

test.serial('containers: non-root, read-only root, no-new-privileges, no capabilities, limits; only the proxy publishes', async (t) => {
  for (const c of await stack.inspect()) {
    const service = c.Config.Labels['com.docker.compose.service']!;
    const hc = c.HostConfig;
    t.true(hc.ReadonlyRootfs, `${service}: read-only root filesystem`);
    t.true((hc.SecurityOpt ?? []).includes('no-new-privileges:true'), `${service}: no-new-privileges`);
    t.deepEqual(hc.CapDrop, ['ALL'], `${service}: drops every capability`);
    t.false(hc.Privileged, `${service}: not privileged`);
    t.true((hc.Memory ?? 0) > 0, `${service}: memory limit`);
    t.true((hc.NanoCpus ?? 0) > 0, `${service}: CPU limit`);
    t.true((hc.PidsLimit ?? 0) > 0, `${service}: pids limit`);
    t.false((c.Mounts ?? []).some((m) => m.Source === '/var/run/docker.sock'), `${service}: no docker.sock`);
    const bindings = (hc.PortBindings ?? {}) as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
    const published = Object.values(bindings).flatMap((b) => b ?? []).filter((b) => b.HostPort);
    if (service === 'proxy' || service === 'grafana') {
      t.true(published.length > 0 && published.every((b) => b.HostIp === '127.0.0.1'), `${service}: published on 127.0.0.1 only`);
    } else {
      t.is(published.length, 0, `${service}: publishes no port`);
    }
    if (service === 'tls') {
      // The documented exception: a one-shot that reads certs/tls.key whatever its owner, offline.
      t.deepEqual(hc.CapAdd, ['DAC_READ_SEARCH']);
      t.is(hc.NetworkMode, 'none');
      continue;
    }
    t.falsy(hc.CapAdd?.length, `${service}: adds no capability`);
    t.true(c.Config.User !== '' && !/^(0|root)(:|$)/.test(c.Config.User), `${service}: runs as ${c.Config.User || 'root'}`);
    // A one-shot helper that has finished (storefront) has no processes left to look at.
    if (!c.State.Running) continue;
    const top = await stack.docker.getContainer(c.Id).top({ ps_args: '-eo uid,pid,args' });
    const uidCol = top.Titles.indexOf('UID');
    for (const p of top.Processes ?? []) t.not(p[uidCol], '0', `${service}: no process runs as root (${p.join(' ')})`);
  }
  const api = await stack.container('api');
  t.true(api.HostConfig.Memory! <= 512 * 1024 * 1024, 'api <= 512 MB');
  t.true(api.HostConfig.Init === true, 'api has an init process');
  const db = await stack.container('db');
  t.true(db.HostConfig.Memory! <= 1024 * 1024 * 1024, 'db <= 1 GB');
});

test.serial('db and cache are reachable from the backend network only', async (t) => {
  const ipOf = async (service: string) => (await stack.container(service)).NetworkSettings.Networks[`${stack.project}_backend`]!.IPAddress;
  // busybox nc exits 0 once connected (stdin is empty); -w bounds the connect.
  const tcp = (network: 'frontend' | 'backend', host: string, port: number) =>
    stack.probe(network, BUSYBOX, ['sh', '-c', `nc -w 3 ${host} ${port} </dev/null >/dev/null`]);
  const reachable: Array<[string, Promise<{ exitCode: number }>]> = [
    ['the probe itself works on the frontend network (proxy)', tcp('frontend', 'proxy', 8443)],
    ['db from the backend', tcp('backend', 'db', 5432)],
    ['cache from the backend', tcp('backend', 'cache', 6379)],
  ];
  const unreachable: Array<[string, Promise<{ exitCode: number }>]> = [];
  for (const [service, port] of [['db', 5432], ['cache', 6379], ['api', 8000]] as const) {
    unreachable.push([`${service} by name from the frontend`, tcp('frontend', service, port)]);
    unreachable.push([`${service} by address from the frontend`, tcp('frontend', await ipOf(service), port)]);
  }
  for (const [what, r] of reachable) t.is((await r).exitCode, 0, what);
  for (const [what, r] of unreachable) t.not((await r).exitCode, 0, what);
});

test.serial('nginx reaches the api through socket slots: a fixed upstream of Unix links that the api points at itself, read-only for the proxy', async (t) => {
  const upstream = (await stack.exec('proxy', ['cat', '/etc/nginx/conf.d/api-upstream.conf'])).stdout;
  t.is((upstream.match(/server unix:\/run\/shop-api\/slot-\d+\.sock max_fails=0;/g) ?? []).length, 16);
  t.regex(upstream, /keepalive_timeout 5s;/);
  const table = await stack.exec('api', ['node', 'api/dist/cli/slots.js', 'show']);
  t.is(table.exitCode, 0, table.stderr);
  const parsed = JSON.parse(table.stdout) as { slots: Array<string | null>; members: Array<{ slots: number }> };
  t.is(parsed.members.length, 1);
  t.is(parsed.members[0]!.slots, 16, 'the only replica owns every slot');
  t.true(parsed.slots.every((s) => s !== null));
  for (let i = 0; i < 5; i++) t.is((await client.request('/health')).status, 200);
  t.not((await stack.exec('proxy', ['touch', '/run/shop-api/x'])).exitCode, 0, 'the proxy cannot change the slots');
  t.not((await stack.exec('proxy', ['touch', '/etc/nginx/nginx.conf'])).exitCode, 0, 'the rest of the root filesystem is read-only');
});

test.serial('a new api replica is healthy within 5 s and drains on SIGTERM (scaled without container_name)', async (t) => {
  const before = new Set((await stack.containers('api')).map((c) => c.Id));
  const scaled = await stack.compose(['up', '--detach', '--no-deps', '--no-recreate', '--no-build', '--scale', 'api=2', 'api']);
  t.is(scaled.exitCode, 0, scaled.stderr);
  const fresh = (await stack.containers('api')).find((c) => !before.has(c.Id));
  if (!fresh) return t.fail('no second api container');
  const container = stack.docker.getContainer(fresh.Id);
  let info = await container.inspect();
  for (let i = 0; i < 120 && info.State.Health?.Status !== 'healthy'; i++) {
    await sleep(250);
    info = await container.inspect();
  }
  t.is(info.State.Health?.Status, 'healthy');
  const firstPass = info.State.Health?.Log?.find((l) => l.ExitCode === 0);
  const healthyMs = Date.parse(firstPass!.End) - Date.parse(info.State.StartedAt);
  note('new api container healthy after', `${(healthyMs / 1000).toFixed(2)} s`);
  t.true(healthyMs <= 5000, `healthy ${healthyMs} ms after start`);

  const stopStarted = Date.now();
  await container.stop({ t: 20 });
  const stopped = await container.inspect();
  const stopMs = Date.now() - stopStarted;
  note('api replica stop (SIGTERM -> drained exit)', `${(stopMs / 1000).toFixed(2)} s, exit ${stopped.State.ExitCode}`);
  t.is(stopped.State.ExitCode, 0, 'exits by itself on SIGTERM (not killed after the grace period)');
  t.true(stopMs < 12_000);
  t.regex(await stack.logs(fresh.Id, 20), /"stopped"/);
  await container.remove();
});

test.serial('data survives down + up (PostgreSQL and Redis volumes)', async (t) => {
  if (state.orderId === undefined) return t.fail('needs the order placed by the purchase test');
  const auth = { REDISCLI_AUTH: stack.env.REDIS_PASSWORD! };
  state.redisValue = randomBytes(8).toString('hex');
  const set = await stack.exec('cache', ['redis-cli', '--no-auth-warning', 'SET', 'e2e:survives', state.redisValue], { env: auth });
  t.is(set.stdout.trim(), 'OK', set.stderr);

  await stack.down({ volumes: false });
  t.is((await stack.containers()).length, 0, 'no container left after down');
  client.close();
  const again = await stack.up({ services });
  note('time to healthy (second start, volumes kept)', `${(again / 1000).toFixed(1)} s`);

  const login = await client.request('/auth/login', { method: 'POST', json: { username: shopper.username, password: shopper.password } });
  t.is(login.status, 200, login.body);
  const order = await client.request(`/orders/${state.orderId}`, { token: login.json<{ access_token: string }>().access_token });
  t.is(order.status, 200);
  t.like(order.json(), { status: 'paid', total: state.orderTotal });
  const get = await stack.exec('cache', ['redis-cli', '--no-auth-warning', 'GET', 'e2e:survives'], { env: auth });
  t.is(get.stdout.trim(), state.redisValue, 'Redis saved its RDB snapshot on shutdown');
});

test.serial('Nginx limits /auth/ per client and answers 429 as problem+json', async (t) => {
  const attempts = await Promise.all(
    Array.from({ length: 20 }, () => client.request('/auth/login', { method: 'POST', json: { username: 'nobody', password: 'wrong password' } })),
  );
  const limited = attempts.filter((r) => r.status === 429);
  t.true(attempts.filter((r) => r.status === 401).length >= 1, 'the first attempts reach the API');
  t.true(limited.length >= 5, `${limited.length} of 20 rapid attempts limited`);
  for (const r of limited) {
    t.is(r.headers['content-type'], 'application/problem+json');
    t.like(r.json(), { status: 429, title: 'Too Many Requests' });
    t.is(r.headers['retry-after'], '60');
  }
});
