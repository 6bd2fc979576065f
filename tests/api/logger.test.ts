// The server's access log skips pino's serializer for speed: its lines must stay byte for byte
// what pino writes, so log shippers and the e2e checks see one format.
import test from 'ava';
import { createLogger, pinoAccessLog, type AccessLine } from '../../api/src/observability/logger.js';

function capture(level: string) {
  const lines: string[] = [];
  const app = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { app, lines };
}

const awkward: AccessLine[] = [
  { req_id: 'f3b0c2a1-1234-4abc-9def-0123456789ab', method: 'GET', route: '/products', path: '/products', status: 200, duration_ms: 1.23, user_id: undefined },
  { req_id: 'client.id_42', method: 'DELETE', route: '/cart/:item_id', path: '/cart/7', status: 204, duration_ms: 0.5, user_id: 12 },
  { req_id: 'x', method: 'GET', route: 'unmatched', path: '/a"b\\c\n\u0001é/💥', status: 404, duration_ms: 12, user_id: 3 },
];

test('the fast access line is the same bytes pino writes for the same fields', (t) => {
  const { app, lines } = capture('info');
  for (const line of awkward) {
    app.accessLog('info', line);
    pinoAccessLog(app.logger)('info', line);
  }
  t.is(lines.length, awkward.length * 2);
  for (let i = 0; i < lines.length; i += 2) {
    // pino formats the time once per millisecond; the two calls may straddle one.
    const strip = (s: string) => s.replace(/"time":"[^"]+"/, '"time":"T"');
    t.is(strip(lines[i]!), strip(lines[i + 1]!));
    const parsed = JSON.parse(lines[i]!) as Record<string, unknown>;
    t.is(parsed.msg, 'request');
    t.is(parsed.path, awkward[i / 2]!.path, 'a path a client chose round-trips through JSON');
  }
});

test('the access log honours the level: debug lines only at debug, nothing at warn', (t) => {
  const info = capture('info');
  info.app.accessLog('debug', awkward[0]!);
  t.is(info.lines.length, 0);
  const debug = capture('debug');
  debug.app.accessLog('debug', awkward[0]!);
  t.is((JSON.parse(debug.lines[0]!) as { level: string }).level, 'debug');
  const warn = capture('warn');
  warn.app.accessLog('info', awkward[0]!);
  t.is(warn.lines.length, 0);
});
