/** What went wrong, in the domain's words; the HTTP layer maps each code to a status. */
export type ErrorCode =
  | 'validation_failed'
  | 'invalid_json'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unauthenticated'
  | 'invalid_credentials'
  | 'forbidden'
  | 'not_found'
  | 'product_not_found'
  | 'order_not_found'
  | 'cart_item_not_found'
  | 'method_not_allowed'
  | 'not_implemented'
  | 'username_taken'
  | 'email_taken'
  | 'insufficient_stock'
  | 'invalid_transition'
  | 'cart_empty'
  | 'cart_quantity_limit'
  | 'cart_line_limit'
  | 'category_not_found'
  | 'weak_password'
  | 'idempotency_key_in_use'
  | 'idempotency_key_reused'
  | 'rate_limited'
  | 'service_unavailable'
  | 'internal_error';

export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra members of the problem body (e.g. the product that ran out of stock). */
    readonly extra?: Record<string, unknown>,
    readonly errors?: FieldError[],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

const NOT_FOUND = {
  product: ['product_not_found', 'product_id'],
  order: ['order_not_found', 'order_id'],
  'cart item': ['cart_item_not_found', 'item_id'],
} as const;

/** The id travels as an extension member too (`product_id`, `order_id`, `item_id`), so clients need not parse the detail. */
export const notFound = (what: keyof typeof NOT_FOUND, id: number): DomainError =>
  new DomainError(NOT_FOUND[what][0], `${what} ${id} does not exist`, { [NOT_FOUND[what][1]]: id });

// Network failures and PostgreSQL "cannot serve now" states: connection failures (08000-08006, not the
// 08P01 protocol violation a bad value can cause), too many connections, administrator shutdown.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE',
  '08000', '08001', '08003', '08004', '08006', '53300', '57P01', '57P02', '57P03',
]);

/** True when a dependency (the database) is down or overloaded, rather than the request being wrong. */
export function isUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated/i.test(message);
}
