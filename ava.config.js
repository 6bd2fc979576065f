// Unit and integration tests: real PostgreSQL and Redis, no Docker Engine needed.
export default {
  files: ['tests/**/*.test.ts', '!tests/e2e/**'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  timeout: '2m',
};
