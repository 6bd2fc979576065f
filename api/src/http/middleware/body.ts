import type Koa from 'koa';
import { DomainError } from '../../domain/errors.js';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** A body the JSON parser would silently ignore is refused with 415 instead. */
export function requireJsonBody(): Koa.Middleware {
  return (ctx, next) => {
    if (BODY_METHODS.has(ctx.method) && ctx.request.length !== 0 && (ctx.request.length !== undefined || ctx.get('transfer-encoding') !== '')) {
      if (!ctx.is('application/json', '+json')) {
        throw new DomainError('unsupported_media_type', `send the body as application/json (got ${ctx.get('content-type') || 'no content type'})`);
      }
    }
    return next();
  };
}
