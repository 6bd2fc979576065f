import type { Command } from 'commander';
import type { CommandModule } from '../command.js';
import { verify, type VerifyOptions } from '../verify/run.js';

export const verifyModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('verify')
      .description(
        'The CI gate for a running stack: health; /health, /docs, /openapi.json, /products through nginx; TLS, HTTP/2, redirect, security headers; a shopper journey and an admin action (their data removed after); container hardening by inspection. A pass/fail table; exit 7 when a check fails.',
      )
      .option('--junit <file>', 'also write JUnit XML (for CI test reports)')
      .option('--domain <name>', 'Host header and TLS server name to use (production certificate check)')
      .option('--skip-journey', 'no shopper journey (read-only verify)')
      .option('--allow-untrusted-cert', 'production: a self-signed or private-CA certificate is exempt, not a failure')
      .addHelpText(
        'after',
        example(`
          shopctl verify
          shopctl verify --junit reports/verify.xml
          shopctl verify --env production --domain shop.example.com`),
      )
      .action(async (opts: VerifyOptions, cmd: Command) => run('verify', cmd, (ctx) => verify(ctx, opts)));
  },
};
