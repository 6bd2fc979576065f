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

export const notFound = (what: 'product' | 'order' | 'cart item', id: number | string): DomainError =>
  new DomainError(
    what === 'product' ? 'product_not_found' : what === 'order' ? 'order_not_found' : 'cart_item_not_found',
    `${what} ${id} does not exist`,
  );
