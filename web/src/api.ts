// The API client: one place that knows the token, problem+json errors, 429 and an unreachable API.
import type { FieldError, User } from './types.js';

export type * from './types.js';

/** Why a request failed, in the words a shopper reads; `fields` go next to their inputs. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly fields: Record<string, string> = {},
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
  /** No answer from the API (network down, proxy 502/503/504): the request may be retried. */
  get unreachable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

const UNREACHABLE = "The shop's server cannot be reached right now. Please try again in a moment.";
const TOKEN_KEY = 'shop.token';
const USER_KEY = 'shop.user';

export const session = {
  token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },
  user(): User | null {
    const raw = localStorage.getItem(USER_KEY);
    try {
      return raw ? (JSON.parse(raw) as User) : null;
    } catch {
      return null;
    }
  },
  set(token: string, user: User): void {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear(): void {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  },
};

/** "30" or an HTTP date -> seconds from now (at least 1). */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Math.max(1, Number(header.trim()));
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - now) / 1000));
}

/** A problem+json body -> the message a shopper reads. */
export function describeProblem(status: number, body: Record<string, unknown>, retryAfter: number | null): string {
  const code = typeof body.code === 'string' ? body.code : '';
  if (status === 429) {
    return retryAfter ? `Too many requests. Please try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.` : 'Too many requests. Please try again in a minute.';
  }
  if (code === 'insufficient_stock') {
    const product = body.product as { name?: string } | undefined;
    const available = typeof body.available === 'number' ? body.available : null;
    const name = product?.name ?? 'A product';
    if (available === 0) return `"${name}" is out of stock. Remove it from your cart to order the rest.`;
    return `Only ${available ?? 'a few'} of "${name}" left in stock. Lower the quantity in your cart and try again.`;
  }
  if (code === 'invalid_credentials') return 'Wrong username or password.';
  if (code === 'username_taken') return 'That username is taken.';
  if (code === 'email_taken') return 'An account with that e-mail address already exists.';
  if (code === 'cart_empty') return 'Your cart is empty.';
  if (code === 'unauthenticated') return 'Please log in again.';
  if (code === 'forbidden') return 'You are not allowed to do that.';
  if (code === 'validation_failed') return 'Please correct the marked fields.';
  const detail = typeof body.detail === 'string' ? body.detail : '';
  const title = typeof body.title === 'string' ? body.title : `Error ${status}`;
  return detail ? `${title}: ${detail}` : title;
}

/** Field errors keyed by the field's name ("body.quantity" and "quantity" alike). */
function fieldsOf(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const list = Array.isArray(body.errors) ? (body.errors as FieldError[]) : [];
  for (const e of list) {
    const key = String(e.path).replace(/^(body|query)\./, '');
    out[key] ??= e.message;
  }
  return out;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  auth?: boolean;
}

let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(fn: () => void): void {
  onUnauthenticated = fn;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const token = session.token();
  if (token && opts.auth !== false) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  } catch {
    throw new ApiError(UNREACHABLE, 0, 'network_error');
  }
  if (res.status === 204) return undefined as T;
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    if (res.ok) throw new ApiError(UNREACHABLE, 0, 'bad_response');
  }
  if (res.ok) return body as T;
  if (res.status === 502 || res.status === 503 || res.status === 504) throw new ApiError(UNREACHABLE, res.status, 'unavailable', {}, body);
  if (res.status === 401 && token && opts.auth !== false) {
    session.clear();
    onUnauthenticated();
  }
  const retryAfter = retryAfterSeconds(res.headers.get('retry-after'));
  const code = typeof body.code === 'string' ? body.code : res.status === 429 ? 'rate_limited' : 'error';
  throw new ApiError(describeProblem(res.status, body, retryAfter), res.status, code, fieldsOf(body), body);
}

export function errorMessage(err: unknown): string {
  return err instanceof ApiError ? err.message : 'Something went wrong. Please try again.';
}
