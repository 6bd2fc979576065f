// Property-based fuzzing from the served OpenAPI document (npm run test:fuzz): real PostgreSQL
// and Redis, no Docker; a few minutes, so it runs as its own CI step rather than in `npm test`.
export default {
  files: ['tests/fuzz/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '15m',
  verbose: true,
};
