// End-to-end tests: build images and run the Compose stack on a real Docker Engine.
export default {
  files: ['tests/e2e/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  // tsx's --import hook does not reach worker threads on Node 20: run each file in a child process.
  workerThreads: false,
  concurrency: 1,
  serial: true,
  timeout: '15m',
};
