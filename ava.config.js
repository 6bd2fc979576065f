// Unit and integration tests: real PostgreSQL and Redis, no Docker Engine needed.
export default {
  files: ['tests/**/*.test.ts', '!tests/e2e/**', '!tests/fuzz/**', '!tests/faults/**'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  // tsx's --import hook does not reach worker threads on Node 20: run each file in a child process.
  workerThreads: false,
  timeout: '2m',
};
