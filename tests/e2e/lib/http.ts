// HTTP clients for a stack behind the proxy: HTTP/2 over TLS (the self-signed development
// certificate is accepted) and plain HTTP/1.1 for the redirect. Never throw on a status.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** 'h2' over TLS with HTTP/2, 'http/1.1' otherwise. */
  protocol: string;
  json<T = unknown>(): T;
}

function response(status: number, headers: Record<string, string>, body: string, protocol: string): Response {
  return {
    status,
    headers,
    body,
    protocol,
    json<T>() {
      return JSON.parse(body) as T;
    },
  };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  token?: string;
  timeoutMs?: number;
}

/**
 * One HTTP/2 session to the proxy, reused by every request (like a browser). Like a
 * browser it leaves a session the server said GOAWAY on (Nginx does on every reload) and
 * sends a stream the server refused once more on a new session: REFUSED_STREAM means the
 * request was not processed (RFC 9113 section 8.7), so that is safe for any method.
 */
export class H2Client {
  private session: http2.ClientHttp2Session | undefined;

  constructor(readonly origin: string) {}

  private connect(): Promise<http2.ClientHttp2Session> {
    if (this.session && !this.session.closed && !this.session.destroyed) return Promise.resolve(this.session);
    return new Promise((resolve, reject) => {
      const session = http2.connect(this.origin, { rejectUnauthorized: false });
      session.once('error', reject);
      session.once('connect', () => {
        session.off('error', reject);
        session.on('error', () => undefined);
        session.once('goaway', () => {
          if (this.session === session) this.session = undefined;
        });
        session.once('close', () => {
          if (this.session === session) this.session = undefined;
        });
        this.session = session;
        resolve(session);
      });
    });
  }

  /** The ALPN protocol the server chose for this session. */
  async alpn(): Promise<string | false> {
    const s = await this.connect();
    return (s.socket as TLSSocket).alpnProtocol ?? false;
  }

  async request(path: string, opts: RequestOptions = {}): Promise<Response> {
    try {
      return await this.send(path, opts);
    } catch (err) {
      if (!isRefusedStream(err)) throw err;
      return this.send(path, opts);
    }
  }

  private async send(path: string, opts: RequestOptions): Promise<Response> {
    const session = await this.connect();
    const headers: http2.OutgoingHttpHeaders = { ':method': opts.method ?? 'GET', ':path': path, ...opts.headers };
    let payload: string | undefined;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    return new Promise((resolve, reject) => {
      const req = session.request(headers);
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`${opts.method ?? 'GET'} ${path}: no answer within ${opts.timeoutMs ?? 15_000} ms`));
      }, opts.timeoutMs ?? 15_000);
      let status = 0;
      const out: Record<string, string> = {};
      req.on('response', (h) => {
        status = Number(h[':status']);
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
      });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        clearTimeout(timer);
        resolve(response(status, out, Buffer.concat(chunks).toString('utf8'), 'h2'));
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(payload);
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

function isRefusedStream(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_ERROR' && /REFUSED_STREAM/.test(err.message);
}

/** Plain HTTP/1.1 (for the port-80 redirect); redirects are not followed. */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve(response(res.statusCode ?? 0, out, Buffer.concat(chunks).toString('utf8'), 'http/1.1'));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 15 s`)));
    req.on('error', reject);
  });
}

/** The fields of API answers the shopctl and swarm tests read. */
export interface ApiJson {
  access_token?: string;
  id?: number;
  version?: string;
}

/** One HTTPS/1.1 request to the proxy on 127.0.0.1 (no connection reuse); the body is JSON or ignored. */
export function httpsJson(port: number, path: string, opts: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; json: ApiJson }> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) headers['content-type'] = 'application/json';
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = https.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', rejectUnauthorized: false, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let json: ApiJson = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiJson;
        } catch {
          // not JSON: the status says enough
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
