import type { ErrorCode, FieldError } from '../domain/errors.js';

export interface ProblemSpec {
  status: number;
  title: string;
}

/** code -> HTTP status and title: the only place that knows both. */
export const PROBLEMS: Record<ErrorCode, ProblemSpec> = {
  validation_failed: { status: 422, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  product_not_found: { status: 404, title: 'Product not found' },
  order_not_found: { status: 404, title: 'Order not found' },
  cart_item_not_found: { status: 404, title: 'Cart item not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_implemented: { status: 501, title: 'Not implemented' },
  username_taken: { status: 409, title: 'Username already registered' },
  email_taken: { status: 409, title: 'E-mail already registered' },
  insufficient_stock: { status: 409, title: 'Insufficient stock' },
  invalid_transition: { status: 409, title: 'Invalid order status transition' },
  cart_empty: { status: 422, title: 'Cart is empty' },
  cart_quantity_limit: { status: 422, title: 'Cart quantity limit exceeded' },
  cart_line_limit: { status: 422, title: 'Too many lines in the cart' },
  category_not_found: { status: 422, title: 'Category not found' },
  weak_password: { status: 422, title: 'Password too weak' },
  idempotency_key_in_use: { status: 409, title: 'Idempotency key in use' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused with a different request' },
  rate_limited: { status: 429, title: 'Too many requests' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  internal_error: { status: 500, title: 'Internal server error' },
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function problemBody(code: ErrorCode, detail: string, extra?: Record<string, unknown>, errors?: FieldError[]): ProblemBody {
  const spec = PROBLEMS[code];
  const body: ProblemBody = {
    ...extra,
    type: `/docs#problem-${code}`,
    title: spec.title,
    status: spec.status,
    detail,
    code,
  };
  if (errors) body.errors = errors;
  return body;
}
