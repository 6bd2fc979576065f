import test from 'ava';
import client from 'prom-client';
import { HTTP_DURATION_BUCKETS, Metrics } from '../../api/src/observability/metrics.js';

const HTTP_METRICS = ['http_requests_total', 'http_request_duration_seconds'];

/** The exposition text of the named metrics only. */
async function text(registry: client.Registry, names: string[]): Promise<string> {
  return (await Promise.all(names.map((n) => registry.getSingleMetricAsString(n)))).join('\n');
}

test('request counter and histogram are exposed exactly as prom-client\'s own would be', async (t) => {
  const metrics = new Metrics('test');
  const reference = new client.Registry();
  const labelNames = ['method', 'route', 'status_code'] as const;
  const counter = new client.Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status code', labelNames, registers: [reference] });
  const histogram = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route template and status code',
    labelNames,
    buckets: HTTP_DURATION_BUCKETS,
    registers: [reference],
  });
  // Bucket edges, values between and above them, several series, a label value that needs escaping.
  const observations: Array<[string, string, number, number]> = [
    ['GET', '/products', 200, 0.0012],
    ['GET', '/products', 200, 0.005],
    ['GET', '/products', 200, 0.0050001],
    ['GET', '/products/:id', 404, 0.2],
    ['POST', '/orders', 201, 12.5],
    ['GET', 'unmatched', 404, 10],
    ['GET', '/products', 200, 1 / 3],
    ['GET', 'a"b\\c', 500, 0],
  ];
  for (const [method, route, status, seconds] of observations) {
    metrics.observeRequest(method, route, status, seconds);
    const labels = { method, route, status_code: String(status) };
    counter.inc(labels);
    histogram.observe(labels, seconds);
  }
  t.is(await text(metrics.registry, HTTP_METRICS), await text(reference, HTTP_METRICS));
  t.regex(await metrics.registry.metrics(), /http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/products",status_code="200"\} 2\n/);
});

test('cache counters start at zero for both caches and count per cache', async (t) => {
  const metrics = new Metrics('test');
  t.regex(await metrics.registry.metrics(), /cache_hits_total\{cache="products_list"\} 0\ncache_hits_total\{cache="product"\} 0\n/);
  metrics.cacheHit('product');
  metrics.cacheHit('product');
  metrics.cacheMiss('products_list');
  const out = await metrics.registry.metrics();
  t.regex(out, /cache_hits_total\{cache="product"\} 2\n/);
  t.regex(out, /cache_misses_total\{cache="products_list"\} 1\n/);
  t.regex(out, /cache_misses_total\{cache="product"\} 0\n/);
});
