// Fault injection (tests/faults): one shared stack, faults one after another (README "Reliability").
export default {
  files: ['tests/faults/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 1,
  serial: true,
  timeout: '10m',
};
