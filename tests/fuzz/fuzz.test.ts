// Property-based fuzzing from the served /openapi.json (the idea of Schemathesis, with fast-check
// and Ajv): requests built from the document's own schemas, mostly valid and some mutated, sent
// as an administrator, two shoppers, anonymously and with forged tokens, against the API
// in-process on the real PostgreSQL and Redis. Ids come mostly from what the run created, so
// requests reach real carts and orders. Every answer is checked against the document: status
// documented, content type, body schema, required headers; no 5xx, no hang, and no 422
// validation_failed for a request the document calls valid.
//
//   npm run test:fuzz                    fixed seed + a random one (printed)
//   FUZZ_SEED=123 npm run test:fuzz      replay: fixed seed + 123
//   FUZZ_RUNS=5000                       requests per seed (default 2600)
import test from 'ava';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import { Contract, coerce, essence, type OpenApiDoc, type Operation } from './lib/contract.js';
import { isPick, mutation, valueOf, type IdKind, type Mutation } from './lib/generate.js';
import { TEST_SECRET, adminLogin, createTestEnv, insertCategory, insertProduct, registerAndLogin, type Shopper, type TestApi, type TestEnv } from '../api/helpers/harness.js';

const FIXED_SEED = 20261201;
const RUNS = Number(process.env.FUZZ_RUNS ?? 2600);
const extraSeed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const TIMEOUT_MS = 15_000;

type Who = 'admin' | 'shopperA' | 'shopperB' | 'anonymous' | 'forged';

interface Req {
  op: Operation;
  who: Who;
  forged: number;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  body: unknown;
  mutation: Mutation | null;
}

interface Finding {
  seed: number;
  index: number;
  request: string;
  problem: string;
}

/** An operation's request arbitrary: parameters, body, who sends it and maybe one mutation. */
function requestArbitrary(op: Operation): fc.Arbitrary<Req> {
  const params: Record<string, fc.Arbitrary<unknown>> = {};
  const query: Record<string, fc.Arbitrary<unknown>> = {};
  const headers: Record<string, fc.Arbitrary<unknown>> = {};
  const requiredQuery: string[] = [];
  const requiredHeaders: string[] = [];
  for (const p of op.parameters) {
    if (p.in === 'path') {
      const kind: IdKind | undefined = p.name === 'item_id' ? 'cart_item' : p.name === 'id' ? (op.path.startsWith('/orders') ? 'order' : 'product') : undefined;
      params[p.name] = valueOf(p.schema, p.name, kind);
    } else if (p.in === 'query') {
      query[p.name] = valueOf(p.schema, p.name);
      if (p.required) requiredQuery.push(p.name);
    } else {
      headers[p.name] = p.name === 'Idempotency-Key' ? fc.oneof(fc.uuid(), fc.constantFrom('retry-1', 'retry-2')) : valueOf(p.schema, p.name);
      if (p.required) requiredHeaders.push(p.name);
    }
  }
  const adminOnly = op.operationId.startsWith('getAdmin') || /^(post|put|delete)Products|^putOrdersIdStatus/.test(op.operationId);
  const who = fc.oneof(
    { weight: adminOnly ? 12 : 3, arbitrary: fc.constant<Who>('admin') },
    { weight: op.secured && !adminOnly ? 8 : 3, arbitrary: fc.constant<Who>('shopperA') },
    { weight: op.secured && !adminOnly ? 5 : 2, arbitrary: fc.constant<Who>('shopperB') },
    { weight: 2, arbitrary: fc.constant<Who>('anonymous') },
    { weight: 1, arbitrary: fc.constant<Who>('forged') },
  );
  return fc.record({
    op: fc.constant(op),
    who,
    forged: fc.nat(),
    params: fc.record(params),
    query: fc.record(query, { requiredKeys: requiredQuery }),
    headers: fc.record(headers, { requiredKeys: requiredHeaders }),
    body: op.body ? valueOf(op.body) : fc.constant(undefined),
    // About one request in four is mutated.
    mutation: fc.option(mutation, { freq: 3 }),
  });
}

/** How often each operation is drawn: the shopping path most, password hashing (register/login) least. */
function weightOf(op: Operation): number {
  if (/^post(AuthRegister|AuthLogin)$/.test(op.operationId)) return 1;
  if (op.operationId === 'postAuthLogout') return 1;
  if (/^(getDocs|getOpenapiJson|getHealth|getMetrics)/.test(op.operationId)) return 2;
  if (/Cart|^postOrders$/.test(op.operationId)) return 16;
  if (op.operationId === 'deleteProductsId') return 2;
  return 8;
}

class Run {
  readonly pools: Record<IdKind, number[]> = { product: [], category: [], cart_item: [], order: [] };
  readonly findings: Finding[] = [];
  readonly statuses = new Map<string, number>();
  /** Milliseconds spent per (operation, status), for FUZZ_VERBOSE. */
  readonly time = new Map<string, number>();
  principals!: Record<'admin' | 'shopperA' | 'shopperB', Shopper>;
  forged: string[] = [];
  count = 0;

  constructor(
    readonly seed: number,
    readonly env: TestEnv,
    readonly api: TestApi,
    readonly contract: Contract,
  ) {}

  async setup(): Promise<void> {
    this.principals = { admin: await adminLogin(this.env, this.api), shopperA: await registerAndLogin(this.api, 'fuzzA'), shopperB: await registerAndLogin(this.api, 'fuzzB') };
    const a = this.principals.shopperA;
    const claims = { role: 'admin' };
    this.forged = [
      jwt.sign(claims, 'not-the-secret-at-all-0123456789abcdef', { algorithm: 'HS256', subject: String(a.id), jwtid: randomUUID(), expiresIn: 600 }),
      jwt.sign(claims, TEST_SECRET, { algorithm: 'HS256', subject: String(a.id), jwtid: randomUUID(), expiresIn: -10 }),
      jwt.sign({ role: 'admin' }, TEST_SECRET, { algorithm: 'HS256', subject: String(a.id), expiresIn: 600 }),
      `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: String(a.id), role: 'admin', jti: randomUUID(), exp: 4102444800 })).toString('base64url')}.`,
      'not-a-jwt',
      `${a.token.slice(0, -4)}AAAA`,
    ];
    for (let i = 0; i < 3; i++) this.pools.category.push(await insertCategory(this.env));
    const prices = ['0.00', '0.01', '9.99', '19.99', '1234.56', '99999999.99', '99999999.99'];
    for (let i = 0; i < 30; i++) {
      const p = await insertProduct(this.env, { price: prices[i % prices.length], stock: i % 10 === 0 ? i % 3 : 1_000_000, category_id: this.pools.category[i % 3]! });
      this.pools.product.push(p.id);
    }
  }

  private pick(kind: IdKind, n: number): number {
    const pool = this.pools[kind];
    return pool.length > 0 ? pool[n % pool.length]! : 1_000_000 + n;
  }

  private resolve(value: unknown): unknown {
    if (isPick(value)) return this.pick(value.pick, value.n);
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
    return value;
  }

  private token(req: Req): string | undefined {
    if (req.who === 'anonymous') return undefined;
    if (req.who === 'forged') return this.forged[req.forged % this.forged.length];
    return this.principals[req.who].token;
  }

  /** Sends one request, checks its answer against the document, learns the ids it reveals. */
  async execute(req: Req): Promise<void> {
    const index = this.count++;
    const { op } = req;
    const params = this.resolve(req.params) as Record<string, unknown>;
    const query = this.resolve(req.query) as Record<string, unknown>;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    let body = this.resolve(req.body);
    let raw: string | undefined;
    let contentType: string | null = 'application/json';
    const paramNames = Object.keys(params);
    const pathValues: Record<string, string> = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, encodeURIComponent(String(v))]));
    let extraQuery = '';
    // Mutated requests: none may hurt the server, but we do not claim to know which are valid when raw.
    let knownValidity = true;
    const m = req.mutation;
    if (m) {
      if (op.body && body !== null && typeof body === 'object' && !Array.isArray(body)) {
        const obj = { ...(body as Record<string, unknown>) };
        const keys = Object.keys(obj);
        if (m.kind === 'drop-field' && keys.length > 0) delete obj[keys[m.n % keys.length]!];
        if (m.kind === 'set-field' && keys.length > 0) obj[keys[m.n % keys.length]!] = m.value;
        if (m.kind === 'extra-field') obj[`extra_${index % 7}`] = m.value;
        body = obj;
      }
      if (op.body && m.kind === 'body-replace') body = m.value;
      if (m.kind === 'raw-body' && (op.method === 'POST' || op.method === 'PUT')) {
        raw = m.raw;
        contentType = m.contentType;
        knownValidity = false;
      }
      if (m.kind === 'param' && paramNames.length > 0) pathValues[paramNames[m.n % paramNames.length]!] = m.value;
      if (m.kind === 'query-extra') {
        extraQuery = m.raw;
        knownValidity = false;
      }
      if (m.kind === 'header') headers[m.name] = m.value;
    }
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => pathValues[name] ?? '1');
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) search.append(k, String(v));
    const qs = [search.toString(), extraQuery].filter(Boolean).join('&');
    const url = `${this.api.url}${path}${qs ? `?${qs}` : ''}`;
    const token = this.token(req);
    if (token) headers.authorization = `Bearer ${token}`;
    const sendsBody = op.body !== undefined || raw !== undefined;
    if (sendsBody && contentType) headers['content-type'] = contentType;
    const payload = raw ?? (op.body !== undefined && body !== undefined ? JSON.stringify(body) : undefined);

    const describe = () => `${op.method} ${path}${qs ? `?${qs}` : ''} as ${req.who}${payload !== undefined ? ` body ${payload.slice(0, 300)}` : ''}${Object.keys(headers).filter((h) => h !== 'authorization' && h !== 'content-type').length ? ` headers ${JSON.stringify({ ...headers, authorization: undefined })}` : ''}${m ? ` [mutation ${m.kind}]` : ''}`;
    const finding = (problem: string) => this.findings.push({ seed: this.seed, index, request: describe(), problem });

    // Is this request valid by the document? (Path, query and header values are text, coerced as the server reads them.)
    let docValid = knownValidity;
    if (docValid) {
      for (const p of op.parameters) {
        const rawValue = p.in === 'path' ? decodeURIComponentSafe(pathValues[p.name]) : p.in === 'query' ? (query[p.name] === undefined ? undefined : String(query[p.name])) : headers[p.name] ?? headers[p.name.toLowerCase()];
        if (rawValue === undefined) {
          if (p.required) docValid = false;
          continue;
        }
        if (rawValue === null || this.contract.check(p.schema, coerce(p.schema, rawValue)) !== null) docValid = false;
      }
      if (op.body && this.contract.check(op.body, body === undefined ? {} : body) !== null) docValid = false;
    }

    let res: Response;
    let text: string;
    const started = performance.now();
    try {
      res = await fetch(url, { method: op.method, headers, body: payload, signal: AbortSignal.timeout(TIMEOUT_MS) });
      text = await res.text();
    } catch (err) {
      finding(`no answer within ${TIMEOUT_MS} ms or connection failed: ${(err as Error).message}`);
      return;
    }
    const ms = performance.now() - started;
    const key = `${op.method} ${op.path} ${res.status}`;
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    this.time.set(key, (this.time.get(key) ?? 0) + ms);
    if (res.status >= 500) finding(`${res.status}: ${text.slice(0, 300)}`);
    // A client resolves dot segments ("/docs/." is "/docs/"): that request reached another resource.
    if (new URL(url).pathname !== path.split('?')[0] && new URL(url).pathname !== encodeURI(path)) return;
    const documented = op.responses[String(res.status)];
    if (!documented) {
      finding(`status ${res.status} is not documented for ${op.method} ${op.path}: ${text.slice(0, 300)}`);
      return;
    }
    let parsed: unknown;
    if (documented.content) {
      const type = essence(res.headers.get('content-type'));
      const media = Object.entries(documented.content).find(([documentedType]) => essence(documentedType) === type)?.[1];
      if (!media) {
        finding(`content type ${res.headers.get('content-type')} is not documented for ${res.status} (documented: ${Object.keys(documented.content).join(', ')})`);
        return;
      }
      if (type.endsWith('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          finding(`${res.status} body is not JSON: ${text.slice(0, 200)}`);
          return;
        }
        const error = this.contract.check(media.schema, parsed);
        if (error) finding(`${res.status} body does not match its schema: ${error}; body ${text.slice(0, 400)}`);
      }
    } else if (text !== '') finding(`${res.status} has a body but the document says none: ${text.slice(0, 200)}`);
    for (const [name, ref] of Object.entries(documented.headers ?? {})) {
      const h = this.contract.headerSchema(ref.$ref);
      const value = res.headers.get(name);
      if (value === null) {
        if (h.required) finding(`${res.status} lacks the ${name} header`);
        continue;
      }
      if (this.contract.check(h.schema, coerce(h.schema, value)) !== null) finding(`${res.status} header ${name}: ${value} does not match ${JSON.stringify(h.schema)}`);
    }
    if (docValid && res.status === 422 && (parsed as { code?: string } | undefined)?.code === 'validation_failed') {
      finding(`the document calls this request valid, the server answered 422: ${text.slice(0, 400)}`);
    }
    await this.learn(req, res.status, parsed);
  }

  /** Ids the answer reveals go into the pools; a logged-out principal logs in again. */
  private async learn(req: Req, status: number, body: unknown): Promise<void> {
    const b = body as Record<string, unknown> | undefined;
    const id = op(req);
    if (status === 201 && id === 'postProducts') this.pools.product.push(b!.id as number);
    if (status === 201 && id === 'postOrders' && !this.pools.order.includes(b!.id as number)) this.pools.order.push(b!.id as number);
    if (status === 200 && Array.isArray(b?.items) && /Cart/.test(id)) {
      for (const item of b.items as Array<{ id: number }>) if (!this.pools.cart_item.includes(item.id)) this.pools.cart_item.push(item.id);
    }
    if (status === 204 && id === 'postAuthLogout' && req.who !== 'anonymous' && req.who !== 'forged') {
      const p = this.principals[req.who];
      const login = await this.api.request('POST', '/auth/login', { body: { username: p.username, password: p.password } });
      this.count++;
      p.token = login.body.access_token as string;
    }
  }
}

const op = (req: Req) => req.op.operationId;

function decodeURIComponentSafe(value: string | undefined): string | null {
  if (value === undefined) return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

/** Methods the document does not list for a path: 405 with Allow (501 for one the server does not implement). */
async function wrongMethods(run: Run, paths: string[]): Promise<void> {
  // Which documented paths a concrete path matches (/cart/add also matches /cart/{item_id}).
  const templates = paths.map((p) => ({ p, re: new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`) }));
  for (const path of paths) {
    const concrete = path.replace(/\{\w+\}/g, '1');
    const documented = templates.filter((x) => x.re.test(concrete)).flatMap((x) => Object.keys(run.contract.doc.paths[x.p]!).map((m) => m.toUpperCase()));
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND'].filter((m) => !documented.includes(m))) {
      const res = await fetch(run.api.url + concrete, { method, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await res.text();
      run.count++;
      const expected = method === 'PROPFIND' ? 501 : 405;
      const where = `${method} ${concrete}`;
      if (res.status !== expected) run.findings.push({ seed: run.seed, index: run.count, request: where, problem: `expected ${expected}, got ${res.status}` });
      else if (essence(res.headers.get('content-type')) !== 'application/problem+json') run.findings.push({ seed: run.seed, index: run.count, request: where, problem: 'not problem+json' });
      else if (run.contract.check(run.contract.doc.components.schemas.Problem!, JSON.parse(text)) !== null) run.findings.push({ seed: run.seed, index: run.count, request: where, problem: `body: ${text}` });
      else if (expected === 405 && !documented.every((m) => (res.headers.get('allow') ?? '').includes(m))) run.findings.push({ seed: run.seed, index: run.count, request: where, problem: `Allow: ${res.headers.get('allow')}` });
    }
  }
}

async function fuzz(seed: number, contract: Contract | null): Promise<{ run: Run; contract: Contract }> {
  const env = await createTestEnv();
  try {
    const api = await env.start();
    const doc = (await api.request('GET', '/openapi.json')).body as OpenApiDoc;
    contract ??= new Contract(doc);
    const run = new Run(seed, env, api, contract);
    await run.setup();
    const weighted = contract.operations.map((o) => ({ weight: weightOf(o), arbitrary: requestArbitrary(o) }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(...weighted), async (req) => {
        await run.execute(req);
      }),
      { seed, numRuns: RUNS, endOnFailure: true },
    );
    await wrongMethods(run, Object.keys(doc.paths));
    return { run, contract };
  } finally {
    await env.close();
  }
}

console.log(`fuzz seeds: ${FIXED_SEED} (fixed) and ${extraSeed} (replay with FUZZ_SEED=${extraSeed}); ${RUNS} generated requests each`);

// The two seeds run side by side, each on its own database and API: the requests of one seed are
// sequential (so a seed replays exactly), and two of them keep both cores busy.
for (const [label, seed] of [['fixed seed', FIXED_SEED], ['random seed', extraSeed]] as const) {
  test(`fuzz from the served document, ${label} ${seed} (replay: FUZZ_SEED=${seed})`, async (t) => {
    t.timeout(15 * 60_000);
    const started = performance.now();
    const { run } = await fuzz(seed, null);
    const { statuses, time, findings } = run;
    const reached = [...statuses].filter(([k]) => / (200|201|204)$/.test(k)).length;
    console.log(`seed ${seed}: ${run.count} requests in ${Math.round((performance.now() - started) / 1000)} s; ${statuses.size} distinct (operation, status) pairs, ${reached} of them successes; ${findings.length} findings`);
    if (process.env.FUZZ_VERBOSE) console.log([...statuses].sort().map(([k, n]) => `${k}: ${n} (${Math.round(time.get(k) ?? 0)} ms)`).join('\n'));
    for (const f of findings.slice(0, 40)) console.log(`FINDING seed=${f.seed} #${f.index}: ${f.problem}\n  ${f.request}`);
    // Two seeds of at least 2,500: at least 5,000 requests per run.
    t.true(run.count >= Math.min(2500, RUNS), `at least 2,500 requests (sent ${run.count})`);
    // The run must reach the shopping path, or it proves little.
    for (const must of ['POST /cart/add 200', 'POST /orders 201', 'PUT /orders/{id}/status 200', 'PUT /cart/{item_id} 200', 'GET /orders/{id} 200']) {
      t.true((statuses.get(must) ?? 0) > 0, `the run reached ${must}`);
    }
    t.deepEqual(findings.map((f) => `seed=${f.seed} #${f.index}: ${f.problem} :: ${f.request}`), []);
  });
}
