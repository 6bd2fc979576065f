import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { DomainError, isUnavailable, type ErrorCode } from '../../domain/errors.js';
import { pinoAccessLog, type AccessLog, type Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../problem.js';
import type { AppContext } from '../context.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
const QUIET_PATHS = new Set(['/health', '/health/live', '/health/ready', '/metrics']);
/** A read that took this long keeps its `info` line whatever ACCESS_LOG_READS says. */
const SLOW_READ_SECONDS = 1;

export interface AccessLogOptions {
  /** The level of a successful, quick GET/HEAD's line (config.accessLogReads); default `info`. */
  reads?: 'info' | 'debug';
}

/**
 * Answers 200 with bytes ready to send (a cached catalogue page). They are written by the outermost
 * middleware once every other one has finished, with all headers in one writeHead: no per-header
 * bookkeeping and none of Koa's body handling.
 */
export function sendBytes(ctx: AppContext, contentType: string, body: string | Buffer): void {
  ctx.state.bytes = { contentType, body: typeof body === 'string' ? Buffer.from(body) : body };
}

function writeBytes(ctx: Koa.Context, requestId: string, bytes: { contentType: string; body: Buffer }): void {
  ctx.respond = false;
  ctx.res.writeHead(200, ['X-Request-Id', requestId, 'X-Content-Type-Options', 'nosniff', 'Content-Type', bytes.contentType, 'Content-Length', String(bytes.body.length)]);
  ctx.res.end(bytes.body);
}

export function sendProblem(ctx: Koa.Context | AppContext, err: DomainError): void {
  const body = problemBody(err.code, err.message, err.extra, err.errors);
  ctx.status = body.status;
  // RFC 9110: every 401 names the scheme that would be accepted.
  if (body.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
  ctx.body = body;
  ctx.type = PROBLEM_CONTENT_TYPE;
}

/** Errors raised below the router (body parser, http-errors) mapped onto our codes. */
function fromHttpError(err: { status?: number; statusCode?: number; type?: string; expose?: boolean; message?: string }): DomainError | null {
  const status = err.status ?? err.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (status === 413) return new DomainError('payload_too_large', 'the request body is larger than 1 MB');
  if (status === 415) return new DomainError('unsupported_media_type', err.expose && err.message ? err.message : 'unsupported content encoding');
  if (status === 400) {
    const detail =
      err.type === 'request.aborted' ? 'the request was aborted before its body arrived' : 'the request body is not valid JSON (send a JSON object)';
    return new DomainError('invalid_json', detail);
  }
  const byStatus: Record<number, ErrorCode> = { 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 429: 'rate_limited' };
  const code = byStatus[status];
  return code ? new DomainError(code, err.expose && err.message ? err.message : 'request refused') : new DomainError('validation_failed', err.message ?? 'invalid request');
}

/**
 * Registered first: gives every request an id, turns every error into application/problem+json
 * (hiding the message of anything unexpected), then logs and measures the final response.
 */
export function errorMiddleware(logger: Logger, metrics: Metrics, accessLog: AccessLog = pinoAccessLog(logger), opts: AccessLogOptions = {}): Koa.Middleware {
  const quietReads = opts.reads === 'debug';
  return async (ctx: Koa.Context, next: Koa.Next) => {
    const start = performance.now();
    const incoming = ctx.get('x-request-id');
    const requestId = incoming !== '' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    metrics.inFlight++;
    let failure: unknown;
    try {
      await next();
      const bytes = (ctx.state as AppContext['state']).bytes;
      if (bytes) writeBytes(ctx, requestId, bytes);
      else if (ctx.body == null) {
        if (ctx.status === 404) sendProblem(ctx, new DomainError('not_found', `no resource at ${ctx.method} ${ctx.path}`));
        else if (ctx.status === 405) sendProblem(ctx, new DomainError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`));
        else if (ctx.status === 501) sendProblem(ctx, new DomainError('not_implemented', `${ctx.method} is not implemented`));
      }
    } catch (err) {
      const mapped = err instanceof DomainError ? err : fromHttpError(err as object);
      if (mapped) {
        sendProblem(ctx, mapped);
      } else if (isUnavailable(err)) {
        failure = err;
        ctx.set('Retry-After', '5');
        sendProblem(ctx, new DomainError('service_unavailable', `the database is unavailable; retry shortly (request id ${requestId})`));
      } else {
        failure = err;
        sendProblem(ctx, new DomainError('internal_error', `an unexpected error occurred; quote request id ${requestId} when reporting it`));
      }
    } finally {
      // Every answer Koa sends carries them too (set here, last, so that sendBytes' answer has no header set before it).
      if (!ctx.headerSent) {
        ctx.set('X-Request-Id', requestId);
        ctx.set('X-Content-Type-Options', 'nosniff');
        // A body left unread (refused as too large, of the wrong type...) would stall the next request on a
        // kept-alive socket behind its remaining bytes: close the connection after this answer instead.
        if (!ctx.req.complete) ctx.set('Connection', 'close');
      }
      metrics.inFlight--;
      const seconds = (performance.now() - start) / 1000;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const status = ctx.status;
      metrics.observeRequest(ctx.method, route, status, seconds);
      const line = {
        req_id: requestId,
        method: ctx.method,
        route,
        path: ctx.path,
        status,
        duration_ms: Math.round(seconds * 100000) / 100,
        user_id: ctx.state.user?.id,
      };
      if (failure !== undefined) logger.error({ ...line, err: failure }, 'request failed');
      else {
        // Health checks, scrapes and (ACCESS_LOG_READS=debug) successful quick reads: debug. Changes,
        // refusals, errors and slow reads: always info.
        const quiet =
          QUIET_PATHS.has(ctx.path) || (quietReads && status < 400 && seconds < SLOW_READ_SECONDS && (ctx.method === 'GET' || ctx.method === 'HEAD'));
        accessLog(quiet ? 'debug' : 'info', line);
      }
    }
  };
}
