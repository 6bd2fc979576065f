// One measurement of `npm run bench`, in a process of its own: a client that has just driven
// another server hard (its heap, its JIT state) no longer sends at the same pace, which showed
// up as a 20 % swing in the next server's numbers. Spec as JSON in argv[2]; prints `start` when
// the measured part begins, then the result as one JSON line.
import autocannon from 'autocannon';

interface Spec {
  url: string;
  connections: number;
  duration: number;
  warmup: number;
  /** POST /orders: one item per order, shoppers and products taken in turn. */
  orders?: { tokens: string[]; productIds: number[] };
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
let n = 0;
const opts: autocannon.Options = { url: spec.url, connections: spec.connections };
if (spec.orders) {
  const { tokens, productIds } = spec.orders;
  opts.requests = [
    {
      method: 'POST',
      setupRequest: (req) => {
        const i = n++;
        return {
          ...req,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length]}` },
          body: JSON.stringify({ items: [{ product_id: productIds[(i * 7) % productIds.length], quantity: 1 }] }),
        };
      },
    },
  ];
}

if (spec.warmup > 0) await autocannon({ ...opts, duration: spec.warmup });
process.stdout.write('start\n');
const r = await autocannon({ ...opts, duration: spec.duration });
process.stdout.write(
  `${JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts, total: r.requests.total })}\n`,
);
