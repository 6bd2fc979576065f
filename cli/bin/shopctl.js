#!/usr/bin/env node
// The committed entry point: it exists before `npm run build`, so npm links it at `npm ci`;
// it runs the compiled CLI, or says how to build it.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write('shopctl is not built yet: run `npm run build` in the repository root (or `npm run build -w cli`), then run shopctl again.\n');
  process.exit(1);
}
await import(built.href);
