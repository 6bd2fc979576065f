import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths never written to the log, whatever a caller passes in. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'password_hash',
  'access_token',
  'token',
  'apiSecretKey',
  'databaseUrl',
  'redisUrl',
  'cacheRedisUrl',
  '*.password',
  '*.password_hash',
  '*.access_token',
  '*.token',
  '*.authorization',
  // pg-promise attaches a failed query's parameters to the error (password hashes, e-mails...).
  'err.params',
];

export interface LoggerOptions {
  level: string;
  name?: string;
  /** Defaults to an asynchronous stdout destination (call flushLogger before exit). */
  destination?: DestinationStream;
}

/** The fields of the access log's line for one request (no secrets: nothing to redact). */
export interface AccessLine {
  /** An id of [A-Za-z0-9._-] only (checked by the caller): written as it is. */
  req_id: string;
  method: string;
  route: string;
  path: string;
  status: number;
  duration_ms: number;
  user_id?: number | undefined;
}

/** Writes one request's line: `info`, or `debug` for health checks and scrapes. */
export type AccessLog = (level: 'info' | 'debug', line: AccessLine) => void;

/** The access log through any pino logger (tests, scripts). */
export function pinoAccessLog(logger: Logger): AccessLog {
  return (level, line) => logger[level](line, 'request');
}

export interface AppLogger {
  logger: Logger;
  /** One line per request, the same JSON pino would write, built without pino's generic serializer. */
  accessLog: AccessLog;
  flush(): void;
}

/** pino's isoTime, formatted once per millisecond instead of once per line. */
let stampMs = -1;
let stamp = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

interface Flushable extends DestinationStream {
  flush?(): void;
  flushSync?(): void;
}

/**
 * Hands the lines of one event-loop turn to the destination as one string. sonic-boom measures and
 * appends to its whole pending buffer on every write, so one write per turn instead of one per line
 * saves most of its work; the lines keep their order and still leave in 8 KB batches.
 */
class TurnBatch implements DestinationStream {
  private lines: string[] = [];

  constructor(private readonly target: Flushable) {}

  write(line: string): void {
    if (this.lines.push(line) === 1) setImmediate(this.drain);
  }

  readonly drain = (): void => {
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.target.write(text);
  };

  flush(): void {
    this.drain();
    this.target.flush?.();
  }

  flushSync(): void {
    this.drain();
    this.target.flushSync?.();
  }
}

export function createLogger(opts: LoggerOptions): AppLogger {
  // Asynchronous, batched writes (8 KB, or every 250 ms) keep logging off the request's critical path.
  let dest: Flushable | undefined = opts.destination;
  if (!dest) {
    const batch = new TurnBatch(pino.destination({ dest: 1, sync: false, minLength: 8192 }));
    const timer = setInterval(() => {
      try {
        batch.flush();
      } catch {
        // destroyed at exit
      }
    }, 250);
    timer.unref();
    // pino flushes its destination at exit; the lines of the last turn are still here.
    process.once('exit', () => {
      try {
        batch.flushSync();
      } catch {
        // nothing was ever written
      }
    });
    dest = batch;
  }
  const options = {
    name: opts.name ?? 'shop-api',
    level: opts.level,
    base: { pid: process.pid },
    timestamp: isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const logger = pino({ ...options, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
  return {
    logger,
    accessLog: fastAccessLog(logger, dest, options.name),
    flush() {
      try {
        dest.flushSync?.();
      } catch {
        // destination not ready yet (nothing written): nothing to flush
      }
    },
  };
}

/**
 * The access line written straight to the destination: its fields are fixed, so it is one
 * template with JSON.stringify for the strings a client chooses. Measured with the write to the
 * destination included: ~1.3 µs per line, against ~3 µs through pino (about a tenth of a cached
 * catalogue read). Same bytes as pino's line (level label, time, pid, name, fields, msg) and the
 * same level filter.
 */
function fastAccessLog(logger: Logger, dest: DestinationStream, name: string): AccessLog {
  const head = { info: '{"level":"info"', debug: '{"level":"debug"' };
  const base = `,"pid":${process.pid},"name":${JSON.stringify(name)}`;
  return (level, l) => {
    if (!logger.isLevelEnabled(level)) return;
    const user = l.user_id === undefined ? '' : `,"user_id":${l.user_id}`;
    dest.write(
      `${head[level]}${isoTime()}${base},"req_id":"${l.req_id}","method":${JSON.stringify(l.method)},"route":${JSON.stringify(l.route)},"path":${JSON.stringify(l.path)},"status":${l.status},"duration_ms":${l.duration_ms}${user},"msg":"request"}\n`,
    );
  };
}
