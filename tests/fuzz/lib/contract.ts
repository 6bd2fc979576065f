// The served OpenAPI document as a checker: Ajv (JSON Schema 2020-12) validators for every
// request part and every documented response, looked up by operation and status.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export arrives as the module object under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

export type Schema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface ResponseDoc {
  content?: Record<string, { schema: Schema }>;
  headers?: Record<string, { $ref: string }>;
}

export interface Operation {
  method: string;
  /** OpenAPI template: /products/{id} */
  path: string;
  operationId: string;
  secured: boolean;
  parameters: Parameter[];
  body?: Schema;
  responses: Record<string, ResponseDoc>;
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, { operationId: string; parameters: Parameter[]; security: unknown[]; requestBody?: { content: Record<string, { schema: Schema }> }; responses: Record<string, ResponseDoc> }>>;
  components: { schemas: Record<string, Schema>; headers: Record<string, { required?: boolean; schema: Schema }> };
}

const COMPONENTS_ID = 'urn:shop:components';

/** `#/components/schemas/X` -> the same schema inside one Ajv resource that holds them all. */
function rewriteRefs<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', `"${COMPONENTS_ID}#/$defs/`)) as T;
}

export const essence = (contentType: string | null): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

export class Contract {
  readonly operations: Operation[] = [];
  private readonly ajv: Ajv2020;
  private readonly cache = new Map<Schema, ValidateFunction>();

  constructor(readonly doc: OpenApiDoc) {
    this.ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: COMPONENTS_ID, $defs: rewriteRefs(doc.components.schemas) });
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        this.operations.push({
          method: method.toUpperCase(),
          path,
          operationId: op.operationId,
          secured: op.security.length > 0,
          parameters: op.parameters,
          body: op.requestBody?.content['application/json']?.schema,
          responses: op.responses,
        });
      }
    }
  }

  validator(schema: Schema): ValidateFunction {
    let v = this.cache.get(schema);
    if (!v) {
      v = this.ajv.compile(rewriteRefs(schema));
      this.cache.set(schema, v);
    }
    return v;
  }

  /** Null when valid, else Ajv's errors as text. */
  check(schema: Schema, value: unknown): string | null {
    const v = this.validator(schema);
    return v(value) ? null : this.ajv.errorsText(v.errors, { dataVar: 'body' });
  }

  headerSchema(ref: string): { required: boolean; schema: Schema } {
    const h = this.doc.components.headers[ref.replace('#/components/headers/', '')]!;
    return { required: h.required ?? false, schema: h.schema };
  }

  pathsWith(method: string): string[] {
    return Object.keys(this.doc.paths).filter((p) => method.toLowerCase() in this.doc.paths[p]!);
  }
}

/** A path or query value as the server reads it: digits become a number when the schema wants one. */
export function coerce(schema: Schema, raw: string): unknown {
  const types = [schema.type].flat();
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (types.includes('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}
