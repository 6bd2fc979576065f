// fast-check arbitraries built from the document's JSON Schemas: values the schema calls valid,
// with ids drawn mostly from what the run has created so far (so requests reach real carts and
// orders), and mutations that break one thing at a time.
import fc from 'fast-check';
import type { Schema } from './contract.js';

/** Resolved at send time against the ids the run has seen: `{ pick: 'product', n }`. */
export interface Pick {
  pick: IdKind;
  n: number;
}
export type IdKind = 'product' | 'category' | 'cart_item' | 'order';

export const isPick = (v: unknown): v is Pick => typeof v === 'object' && v !== null && 'pick' in v && 'n' in v;

/** Which pool an integer named `name` draws from. */
function idKind(name: string | undefined): IdKind | undefined {
  if (name === 'product_id') return 'product';
  if (name === 'category_id') return 'category';
  if (name === 'item_id') return 'cart_item';
  return undefined;
}

// Strings a person types: ASCII mostly, some other scripts and emoji, never NUL (mutations send that).
const text = (minLength: number, maxLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength, maxLength: Math.min(maxLength, 40) }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: Math.min(maxLength, 20) }) },
    { weight: 1, arbitrary: fc.string({ minLength: Math.max(minLength, Math.min(maxLength, 200)), maxLength }) },
  );

export function valueOf(schema: Schema, name?: string, idHint?: IdKind): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(schema[key])) return fc.oneof(...(schema[key] as Schema[]).map((s) => valueOf(s, name, idHint)));
  }
  const type = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
  if (type.length > 1) return fc.oneof(...type.map((t) => valueOf({ ...schema, type: t }, name, idHint)));
  switch (type[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : -1e6;
      const max = typeof schema.maximum === 'number' ? schema.maximum : 1e6;
      const ints = fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 20) }) },
        { weight: 2, arbitrary: fc.integer({ min, max }) },
        { weight: 1, arbitrary: fc.constantFrom(min, max) },
      );
      const kind = idKind(name) ?? idHint;
      if (!kind) return ints;
      return fc.oneof({ weight: 4, arbitrary: fc.nat().map((n): Pick => ({ pick: kind, n })) }, { weight: 1, arbitrary: ints });
    }
    case 'string': {
      const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
      const maxLength = typeof schema.maxLength === 'number' ? schema.maxLength : 300;
      if (schema.format === 'email') return fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{2,20}$/), fc.nat()).map(([u, n]) => `${u}${n}@example.com`);
      if (typeof schema.pattern === 'string') {
        return fc.stringMatching(new RegExp(schema.pattern as string, 'u')).filter((s) => s.length >= minLength && s.length <= maxLength);
      }
      return text(minLength, maxLength);
    }
    case 'array': {
      const items = (schema.items as Schema | undefined) ?? {};
      const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const maxLength = Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 10, 12);
      return fc.oneof(
        { weight: 5, arbitrary: fc.array(valueOf(items), { minLength, maxLength }) },
        // Now and then the most the schema allows (100 order lines, for instance).
        { weight: 1, arbitrary: fc.array(valueOf(items), { minLength: (schema.maxItems as number | undefined) ?? minLength, maxLength: (schema.maxItems as number | undefined) ?? minLength }) },
      );
    }
    case 'object':
    default: {
      const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
      const required = new Set((schema.required as string[] | undefined) ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, s] of Object.entries(props)) record[key] = valueOf(s, key);
      const base = fc.record(record, { requiredKeys: [...required].filter((k) => k in props) });
      // The document's own cross-field rules: minProperties, and a oneOf of `required` lists (exactly one holds).
      return base.filter((value) => {
        const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
        if (typeof schema.minProperties === 'number' && keys.length < schema.minProperties) return false;
        if (!Array.isArray(schema.oneOf)) return true;
        return (schema.oneOf as Schema[]).filter((alt) => ((alt.required as string[] | undefined) ?? []).every((k) => keys.includes(k))).length === 1;
      });
    }
  }
}

/** Values a schema of this type should refuse (or that probe the server's edges). */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null, true, -1, 0, 1.5, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, 1e20, '', ' ', 'null', '1e3', '0x10', '١٢', '\u0000', 'a\u0000b',
    '9'.repeat(40), '99999999.999', '100000000', '-0.01', '1,5', [], {}, [1, 2], { $gt: '' }, 'x'.repeat(10_000), '%', '../..', "' OR 1=1 --",
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer(),
  fc.double(),
);

export type Mutation =
  | { kind: 'drop-field'; n: number }
  | { kind: 'set-field'; n: number; value: unknown }
  | { kind: 'extra-field'; value: unknown }
  | { kind: 'body-replace'; value: unknown }
  | { kind: 'raw-body'; raw: string; contentType: string | null }
  | { kind: 'param'; n: number; value: string }
  | { kind: 'query-extra'; raw: string }
  | { kind: 'header'; name: string; value: string };

const rawParam = fc.oneof(
  fc.constantFrom('abc', '-1', '0', '1.5', '99999999999', '2147483648', '00001', '1e3', ' 1', '%00', '%E2%82%AC', 'null', '🙂', '%2F..%2F', 'x'.repeat(300)),
  fc.string({ minLength: 1, maxLength: 12 }).map(encodeURIComponent),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop-field' as const), n: fc.nat() }),
  fc.record({ kind: fc.constant('set-field' as const), n: fc.nat(), value: hostile }),
  fc.record({ kind: fc.constant('extra-field' as const), value: hostile }),
  fc.record({ kind: fc.constant('body-replace' as const), value: hostile }),
  fc.record({
    kind: fc.constant('raw-body' as const),
    raw: fc.constantFrom('{', '{"a":', 'not json', '[1,2', '\u0000', '{"quantity": 1e999}', '{"__proto__": {"x": 1}}', '"just a string"', '{}'.padEnd(30, ' ')),
    contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/problem+json', null),
  }),
  fc.record({ kind: fc.constant('param' as const), n: fc.nat(), value: rawParam }),
  fc.record({
    kind: fc.constant('query-extra' as const),
    raw: fc.constantFrom('limit=0', 'limit=101', 'limit=abc', 'limit=1&limit=2', 'offset=-1', 'offset=99999999999', 'days=0', 'days=366', 'sort=bogus', 'in_stock=yes', 'min_price=1e3', 'max_price=-1', 'q=', 'q=%00', 'unknown=1', 'category_id=0', 'q=' + 'x'.repeat(150)),
  }),
  fc.record({
    kind: fc.constant('header' as const),
    name: fc.constantFrom('Idempotency-Key', 'X-Request-Id', 'Accept'),
    value: fc.constantFrom('', ' ', 'é', 'x'.repeat(300), 'a b', '../../etc', 'application/xml', '*/*'),
  }),
);
