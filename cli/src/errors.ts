import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/** An error shopctl expects: it carries the exit code and a hint telling the operator what to do next. */
export class ShopctlError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  /** Multi-line evidence (health output, log lines) printed after the one-line message. */
  readonly detail: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    message: string,
    opts: { exitCode?: ExitCodeValue | undefined; hint?: string | undefined; detail?: string | undefined; details?: Record<string, unknown> | undefined; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ShopctlError';
    this.exitCode = opts.exitCode ?? ExitCode.FAILURE;
    this.hint = opts.hint;
    this.detail = opts.detail;
    this.details = opts.details;
  }
}

export function isShopctlError(error: unknown): error is ShopctlError {
  return error instanceof ShopctlError;
}

/** The message of anything thrown, without a stack. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
