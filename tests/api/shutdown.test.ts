import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createTestEnv, DATABASE_DIR, TEST_REDIS_URL, TEST_SECRET, type TestEnv } from './helpers/harness.js';

const SERVER = fileURLToPath(new URL('../../api/src/server.ts', import.meta.url));

let env: TestEnv;
const children: ChildProcess[] = [];

test.before(async () => {
  env = await createTestEnv();
});
test.after.always(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await env?.close();
});

interface Server {
  child: ChildProcess;
  port: number;
  startupMs: number;
  exit: Promise<number | null>;
  output: () => string;
}

async function startServer(extra: Record<string, string> = {}): Promise<Server> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import=tsx', SERVER], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `${env.prefix}child:`,
      API_SECRET_KEY: TEST_SECRET,
      ENVIRONMENT: 'test',
      PORT: '0',
      DATABASE_DIR,
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000);
    const onData = () => {
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    };
    child.stdout!.on('data', onData);
    void exit.then(() => reject(new Error(`server exited:\n${out}`)));
  });
  return { child, port, startupMs: performance.now() - started, exit, output: () => out };
}

/** Sends the headers and half the body of a login: the request is in flight until we send the rest. */
function halfRequest(port: number): { socket: net.Socket; finish: () => Promise<string> } {
  const body = JSON.stringify({ username: 'nobody-at-all', password: 'not-the-password' });
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body.slice(0, 10));
  let response = '';
  socket.on('data', (d: Buffer) => (response += d.toString()));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    async finish() {
      socket.write(body.slice(10));
      await ended;
      return response;
    },
  };
}

async function inFlight(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const m = /^http_requests_in_flight (\d+)/m.exec(await res.text());
  return Number(m?.[1] ?? 0);
}

test('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async (t) => {
  const server = await startServer();
  t.log(`startup to listening: ${server.startupMs.toFixed(0)} ms (tsx, uncompiled)`);
  t.is((await fetch(`http://127.0.0.1:${server.port}/health/ready`)).status, 200);

  const pending = halfRequest(server.port);
  // The scrape itself is one request in flight; the half-sent login is the other.
  for (let i = 0; (await inFlight(server.port)) < 2; i++) if (i > 100) t.fail('the slow request never started');

  server.child.kill('SIGTERM');
  // New connections are refused once the server closed its listener.
  for (let i = 0; ; i++) {
    const refused = await fetch(`http://127.0.0.1:${server.port}/health/live`).then(
      () => false,
      () => true,
    );
    if (refused) break;
    if (i > 100) t.fail('still accepting connections after SIGTERM');
  }
  const response = await pending.finish();
  t.regex(response, /^HTTP\/1\.1 401 /);
  t.regex(response, /connection: close/i);
  t.regex(response, /invalid_credentials/);
  t.is(await server.exit, 0);
  t.regex(server.output(), /"msg":"stopped"/);
});

test('SIGTERM with a request that never finishes: exits 0 after SHUTDOWN_TIMEOUT_MS', async (t) => {
  const server = await startServer({ SHUTDOWN_TIMEOUT_MS: '300' });
  const pending = halfRequest(server.port);
  for (let i = 0; (await inFlight(server.port)) < 2; i++) if (i > 100) t.fail('the slow request never started');
  const start = performance.now();
  server.child.kill('SIGTERM');
  t.is(await server.exit, 0);
  const took = performance.now() - start;
  t.true(took >= 250 && took < 5000, `${took} ms`);
  t.regex(server.output(), /shutdown timeout reached/);
  pending.socket.destroy();
});

test('a configuration problem stops the server with one clear line per problem', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', SERVER], {
    env: { PATH: process.env.PATH, ENVIRONMENT: 'production', API_SECRET_KEY: 'changeme', PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 1);
  t.regex(err, /DATABASE_URL is required/);
  t.regex(err, /REDIS_URL is required/);
  t.regex(err, /API_SECRET_KEY must be at least 32 bytes/);
  t.regex(err, /API_SECRET_KEY is a known default/);
  t.regex(err, /PORT must be an integer/);
});
