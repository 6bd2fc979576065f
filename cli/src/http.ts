import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Present for https: negotiated protocol and whether the chain verified against the system CAs. */
  tls?: { protocol: string | null; authorized: boolean; authorizationError?: string | undefined; validTo?: string | undefined } | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
  /** Host header and TLS server name (the proxy is reached on 127.0.0.1 but may serve a domain). */
  hostHeader?: string | undefined;
  /** Self-signed development certificates: verification is reported, not enforced. */
  verifyTls?: boolean;
}

/** One HTTP(S) request with a bounded time, a fresh connection, and the body read as text. */
export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = { accept: 'application/json, */*', ...opts.headers };
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (opts.hostHeader) headers.host = opts.hostHeader;
  return new Promise((resolve, reject) => {
    const lib = isHttps ? https : http;
    const req = lib.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers,
        agent: false,
        timeout: opts.timeoutMs ?? 10_000,
        ...(isHttps ? { rejectUnauthorized: opts.verifyTls ?? false, servername: opts.hostHeader?.replace(/:\d+$/, '') || undefined } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let tls: HttpResponse['tls'];
          if (isHttps) {
            const socket = res.socket as TLSSocket;
            const cert = socket.getPeerCertificate?.();
            tls = { protocol: socket.getProtocol?.() ?? null, authorized: socket.authorized, authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined, validTo: cert?.valid_to };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), tls });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export function jsonBody<T = unknown>(res: HttpResponse): T | undefined {
  try {
    return JSON.parse(res.body) as T;
  } catch {
    return undefined;
  }
}
