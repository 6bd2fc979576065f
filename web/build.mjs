// Builds the storefront into web/dist: index.html (never cached) and assets/ whose names carry a
// content hash (cached for a year). Then checks the budget: JavaScript <= 40 KB gzipped.
//
//   node build.mjs            build, print the gzipped weights, fail above the budget
//   node build.mjs --out DIR  build elsewhere (tests)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? process.argv[outIndex + 1] : join(here, 'dist');
export const JS_BUDGET_BYTES = 40 * 1024;

rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: [join(here, 'src/main.tsx')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((f) => join(process.cwd(), f));
const url = (ext) => {
  const file = outputs.find((f) => f.endsWith(ext));
  if (!file) throw new Error(`esbuild wrote no ${ext} file`);
  return `/${relative(out, file).split('\\').join('/')}`;
};
const html = readFileSync(join(here, 'index.html'), 'utf8').replace('%SCRIPT%', url('.js')).replace('%STYLE%', url('.css'));
writeFileSync(join(out, 'index.html'), html);
copyFileSync(join(here, 'favicon.svg'), join(out, 'favicon.svg'));

/** Gzipped bytes of every file in dist/assets with the extension (level 9, as a precompressing server would). */
function gzipped(ext) {
  const dir = join(out, 'assets');
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, f)), { level: 9 }).length, 0);
}
mkdirSync(out, { recursive: true });
const js = gzipped('.js');
const css = gzipped('.css');
const weights = { js_gzip_bytes: js, css_gzip_bytes: css, html_bytes: Buffer.byteLength(html), js_budget_bytes: JS_BUDGET_BYTES };
writeFileSync(join(out, 'weights.json'), `${JSON.stringify(weights, null, 2)}\n`);
console.log(`storefront: ${relative(process.cwd(), out) || '.'}: JS ${(js / 1024).toFixed(1)} KB gzipped (budget ${JS_BUDGET_BYTES / 1024} KB), CSS ${(css / 1024).toFixed(1)} KB gzipped`);
if (js > JS_BUDGET_BYTES) {
  console.error(`storefront: JavaScript is ${js} bytes gzipped, over the ${JS_BUDGET_BYTES}-byte budget`);
  process.exit(1);
}
