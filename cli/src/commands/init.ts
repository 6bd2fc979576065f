import type { Command } from 'commander';
import type { Context } from '../context.js';
import { parseEnvironment } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { collect } from '../options.js';
import { initProject, type InitOptions } from '../setup/init.js';

export async function init(ctx: Context, opts: InitOptions): Promise<CommandOutcome> {
  const { environment, files, exposed } = await initProject(ctx, opts);
  const lines = [
    `Initialised ${environment} in ${ctx.projectDir}:`,
    ...files.map((f) => `  ${f.mode}  ${f.path}  (${f.kind}${f.replaced ? ', replaced' : ''})`),
    '',
    ...(environment === 'production'
      ? [
          'secrets/ is 0700 and its files 0644: Compose bind-mounts them and every service reads them as its own user.',
          opts.selfSigned ? 'certs/ holds a self-signed certificate: replace it with a real one (docs/stack.md, "TLS in production").' : 'Put the TLS certificate in certs/tls.crt and certs/tls.key (docs/stack.md, "TLS in production"), or run init --self-signed for a temporary one.',
          'Next: review .env (API_IMAGE, admin e-mail), then: shopctl deploy production <version>',
        ]
      : ['Next: shopctl deploy development   (or: docker compose up -d --build)']),
  ];
  return { data: { environment, files, gitIgnored: exposed === undefined ? null : exposed.length === 0 }, human: lines.join('\n') };
}

export const initCommand: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('init')
      .description('Render templates/.env.<env> into the env file with fresh random secrets (production: into secrets/<name>, the folder 0700) and, for development, a self-signed TLS certificate in certs/. Never overwrites without --force.')
      .option('--force', 'replace existing files (never done otherwise)')
      .option('--domain <name>', 'host name of the certificate, repeatable (default: localhost)', collect)
      .option('--self-signed', 'production: also write a temporary self-signed certificate to certs/ (development always gets one)')
      .addHelpText(
        'after',
        example(`
          shopctl init                       # development: .env + certs/tls.crt, certs/tls.key
          shopctl init --env production      # .env + secrets/* (folder 0700)
          shopctl init --force --domain shop.test localhost`),
      )
      .action(async (opts: InitOptions, cmd: Command) => {
        const globals = cmd.optsWithGlobals<{ env?: string }>();
        // init defaults to development: there is no env file yet to read ENVIRONMENT from.
        await run('init', cmd, (ctx) => init(ctx, opts), () => ({ environment: parseEnvironment(globals.env ?? 'development', '--env') }));
      });
  },
};
