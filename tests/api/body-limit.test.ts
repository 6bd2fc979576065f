// A body refused before it was read (over 1 MB, chunked or not) must not strand the connection:
// the server closes it (Connection: close) or reads the rest, so the next request on a kept-alive
// socket is answered or sees the socket closed, never a hang.
import test from 'ava';
import net from 'node:net';
import { apiPerFile } from './helpers/harness.js';

const file = apiPerFile(test);

interface Exchange {
  first: string;
  /** What the socket did after the next request: its answer, or 'closed'. */
  next: string;
}

/** Sends `request`, reads its answer, then sends a GET /health/live on the same socket. */
function twoRequests(request: Buffer[], waitMs = 8000): Promise<Exchange> {
  const { port } = new URL(file.api.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let data = '';
    let first: string | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ first: first ?? data, next: 'hang' });
    }, waitMs);
    const finish = (next: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ first: first ?? data, next });
    };
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset while we were still writing the refused body is the server closing: fine.
      if (first !== null || err.code === 'ECONNRESET' || err.code === 'EPIPE') finish('closed');
      else reject(err);
    });
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (first === null) {
        const end = data.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(data);
        if (end === -1 || !length || data.length < end + 4 + Number(length[1])) return;
        first = data.slice(0, end + 4 + Number(length[1]));
        data = data.slice(first.length);
        socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n');
      }
      if (data.includes('\r\n\r\n') && /"status":"ok"/.test(data)) finish(data);
    });
    socket.on('end', () => finish('closed'));
    socket.on('connect', () => {
      for (const part of request) if (!socket.destroyed) socket.write(part);
    });
  });
}

const MB2 = Buffer.alloc(2 * 1024 * 1024, 'a');

test('2 MB chunked body -> 413 problem, then the next request on the socket is answered or the socket closed', async (t) => {
  const frame = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  const head = Buffer.from('POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n');
  const { first, next } = await twoRequests([head, frame(Buffer.from('{"username":"')), frame(MB2), Buffer.from('0\r\n\r\n')]);
  t.regex(first, /^HTTP\/1\.1 413 /);
  t.regex(first, /content-type: application\/problem\+json/i);
  t.regex(first, /"code":"payload_too_large"/);
  t.regex(first, /connection: close/i);
  t.not(next, 'hang');
});

test('2 MB body with Content-Length -> 413, and the connection is not left hanging', async (t) => {
  const head = Buffer.from(`POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${MB2.length}\r\n\r\n`);
  const { first, next } = await twoRequests([head, MB2]);
  t.regex(first, /^HTTP\/1\.1 413 /);
  t.not(next, 'hang');
});

test('a body refused for its type (415) before it was read -> the next request is not stranded either', async (t) => {
  const body = Buffer.alloc(256 * 1024, 'x');
  const head = Buffer.from(`POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`);
  const { first, next } = await twoRequests([head, body, Buffer.from('\r\n0\r\n\r\n')]);
  t.regex(first, /^HTTP\/1\.1 415 /);
  t.not(next, 'hang');
});

test('after a normal request the socket stays open and serves the next one', async (t) => {
  const { first, next } = await twoRequests([Buffer.from('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n')]);
  t.regex(first, /^HTTP\/1\.1 200 /);
  t.notRegex(first, /connection: close/i);
  t.regex(next, /^HTTP\/1\.1 200 /);
});
