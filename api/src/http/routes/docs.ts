import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.js';
import type { RouteRegistry } from '../registry.js';

// Only what the page needs from swagger-ui-dist (the image may ship nothing else).
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// No inline script or style: the page works under the proxy's CSP (script-src 'self').
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop API documentation</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** The proxy's policy (docs/architecture.md), also sent here so the page is checked under it when reached directly. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });
});
`;

function swaggerDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('swagger-ui-dist/package.json'));
}

export function docsRoutes(r: RouteRegistry, openapi: () => Record<string, unknown>): void {
  const assets = new Map<string, Promise<Buffer>>();
  let spec: string | undefined;

  r.add({
    method: 'get',
    path: '/openapi.json',
    tag: 'docs',
    summary: 'This API as an OpenAPI 3.1 document',
    auth: 'public',
    responses: { 200: { description: 'OpenAPI 3.1 document', schema: z.object({ openapi: z.string() }).loose() } },
    handler(ctx) {
      spec ??= JSON.stringify(openapi());
      ctx.set('Content-Type', 'application/json; charset=utf-8');
      ctx.body = spec;
    },
  });
  r.add({
    method: 'get',
    path: '/docs',
    tag: 'docs',
    summary: 'Interactive documentation (Swagger UI, served locally)',
    auth: 'public',
    responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
    handler(ctx) {
      ctx.set('Content-Security-Policy', CSP);
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = PAGE;
    },
  });
  r.add({
    method: 'get',
    path: '/docs/:asset',
    tag: 'docs',
    summary: 'Static assets of the documentation page',
    auth: 'public',
    params: z.object({ asset: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, 'must be a file name such as swagger-ui.css').max(100) }),
    responses: {
      200: { description: 'The asset', contentType: ['text/javascript', 'text/css', 'image/png'], headers: ['Cache-Control'] },
      404: { description: 'not_found: no such asset', codes: ['not_found'] },
    },
    async handler(ctx, { params }) {
      ctx.set('Cache-Control', 'public, max-age=3600');
      if (params.asset === 'init.js') {
        ctx.type = 'text/javascript; charset=utf-8';
        ctx.body = INIT;
        return;
      }
      const type = ASSETS[params.asset];
      if (!type) throw new DomainError('not_found', `no asset ${params.asset}`);
      let data = assets.get(params.asset);
      if (!data) {
        data = readFile(path.join(swaggerDir(), params.asset));
        assets.set(params.asset, data);
        data.catch(() => assets.delete(params.asset));
      }
      ctx.type = type;
      ctx.body = await data;
    },
  });
}
