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
  /** A shop's traffic: `orderShare` of requests are orders, the rest catalogue reads (details and list pages). */
  mix?: { tokens: string[]; productIds: number[]; orderShare: number; lists: string[] };
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

if (spec.mix) {
  const { tokens, productIds, orderShare, lists } = spec.mix;
  // A fixed pseudo-random sequence (xorshift), so every run sends the same mix.
  let x = 2463534242;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  opts.requests = [
    {
      setupRequest: (req) => {
        const r = next();
        if (r < orderShare) {
          return {
            ...req,
            method: 'POST',
            path: '/orders',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${pick(tokens)}` },
            body: JSON.stringify({ items: [{ product_id: pick(productIds), quantity: 1 }] }),
          };
        }
        // Seven reads in ten are a product page, the rest a list page.
        const path = r < orderShare + (1 - orderShare) * 0.7 ? `/products/${pick(productIds)}` : pick(lists);
        return { ...req, method: 'GET', path, headers: {}, body: undefined };
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
