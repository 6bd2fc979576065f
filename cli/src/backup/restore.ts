import { readFile, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { Context } from '../context.js';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { parseChecksumFile } from '../state/backup-files.js';
import { formatBytes, formatDuration } from '../time.js';
import { execIn } from '../docker/exec.js';
import { SERVICES } from '../orchestrators/orchestrator.js';
import { smokeCheck } from '../proxy.js';
import { checkDump, rowCounts, sha256File } from './dump.js';
import { PG_EXEC_USER, postgresTarget } from './postgres.js';
import { takeBackup, type BackupResult } from './take.js';
import { pauseForTest } from '../test-pause.js';

export interface RestoreOptions {
  yes?: boolean;
  timeout?: number;
}

/** A path as given, else a name inside the backup directory (`shopctl restore shop-20261127T030000Z.dump`). */
async function locate(ctx: Context, file: string): Promise<string> {
  const candidates = isAbsolute(file) ? [file] : [resolve(file), join(ctx.backupDir, file)];
  for (const c of candidates) {
    try {
      if ((await stat(c)).isFile()) return c;
    } catch {
      // try the next candidate
    }
  }
  throw new ShopctlError(`Backup file ${file} not found (looked in ${candidates.join(' and ')})`, { exitCode: ExitCode.NOT_FOUND });
}

/** Compares the file with its `.sha256` sidecar; a missing sidecar is refused too (nothing proves the file is whole). */
export async function verifyChecksum(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(`${path}.sha256`, 'utf8');
  } catch {
    throw new ShopctlError(`${basename(path)}.sha256 is missing: cannot prove the dump is intact`, {
      exitCode: ExitCode.INTEGRITY,
      hint: `If you trust the file, create it with: (cd ${resolve(path, '..')} && sha256sum ${basename(path)} > ${basename(path)}.sha256)`,
    });
  }
  const expected = parseChecksumFile(text);
  if (!expected) throw new ShopctlError(`${basename(path)}.sha256 is not in sha256sum format`, { exitCode: ExitCode.INTEGRITY });
  const actual = await sha256File(path);
  if (actual !== expected.hex) {
    throw new ShopctlError(`Checksum mismatch for ${basename(path)}: the file is corrupted or truncated`, {
      exitCode: ExitCode.INTEGRITY,
      detail: `expected ${expected.hex}\nactual   ${actual}`,
      hint: 'Nothing was changed. Restore another backup (ls backups/).',
    });
  }
  return actual;
}

/** Checks, asks, takes a safety backup, stops the API, restores in one transaction, starts the API; the API comes back whatever failed. */
export async function restore(ctx: Context, file: string, opts: RestoreOptions, ask: (question: string) => Promise<string | undefined>): Promise<{ data: Record<string, unknown>; human: string }> {
  const started = Date.now();
  const path = await locate(ctx, file);
  const size = (await stat(path)).size;
  const docker = await ctx.docker();
  const target = await postgresTarget(ctx);

  // Everything that can refuse comes before the prompt and before anything is touched.
  const sha256 = await verifyChecksum(path);
  const check = await checkDump(ctx, target, path);

  if (!opts.yes) {
    const answer = await ask(
      `Restore ${basename(path)} (${formatBytes(size)}) into database "${target.database}" of project "${ctx.projectName}"?\n` +
        'The API is stopped meanwhile and the current data is replaced (a safety backup is taken first).\n' +
        `Type the database name (${target.database}) to continue: `,
    );
    if (answer === undefined) {
      throw new ShopctlError('Refusing to restore without confirmation: no terminal to ask on', { exitCode: ExitCode.REFUSED, hint: 'Pass --yes to confirm non-interactively.' });
    }
    if (answer !== target.database) throw new ShopctlError('Not confirmed; nothing was changed', { exitCode: ExitCode.REFUSED });
  }

  const timeoutMs = (opts.timeout ?? 120) * 1000;
  const state: { safety?: BackupResult; counts?: Record<string, number> } = {};
  const api = await ctx.orchestrator.pause(SERVICES.api, timeoutMs);
  let startAttempted = false;
  const startApi = async () => {
    startAttempted = true;
    await api.start();
  };

  await ctx.output.tasks(
    [
      {
        title: 'Safety backup of the current database',
        task: async (_c, task) => {
          await pauseForTest(1, 'safety backup', ctx.signal);
          state.safety = await takeBackup(ctx, { reason: 'pre-restore', lockWaitMs: 600_000, onStep: (s) => (task.output = s) });
          task.title = `Safety backup: ${state.safety.file}`;
        },
      },
      {
        title: 'Stop the API',
        task: async (_c, task) => {
          await pauseForTest(2, 'stop the API', ctx.signal);
          task.title = await api.stop((l) => (task.output = l));
        },
      },
      {
        title: `Restore ${basename(path)} (single transaction)`,
        task: async (_c, task) => {
          await pauseForTest(3, 'restore', ctx.signal);
          const r = await execIn(
            docker,
            target.container.Id,
            ['pg_restore', '--clean', '--if-exists', '--single-transaction', '--exit-on-error', '--no-owner', '--no-password', '-U', target.user, '-d', target.database],
            { user: PG_EXEC_USER, stdin: createReadStream(path), signal: ctx.signal },
          );
          if (r.exitCode !== 0) {
            throw new ShopctlError('pg_restore failed; the transaction was rolled back and the database is as it was', {
              detail: r.stderr.trim().split('\n').slice(-15).join('\n') || undefined,
              hint: state.safety ? `The safety backup ${state.safety.file} holds the same data, should you need it.` : undefined,
            });
          }
          state.counts = await rowCounts(ctx, target);
          task.title = `Restored ${basename(path)}`;
        },
      },
      {
        title: 'Start the API and wait until healthy',
        task: async (_c, task) => {
          await pauseForTest(4, 'start the API', ctx.signal);
          await startApi();
          if (api.count) await smokeCheck(ctx, undefined, 2);
          task.title = api.count ? `API healthy (${api.count} container(s)), nginx re-pointed and answering` : 'No API containers to start';
        },
      },
    ],
    {},
  ).catch(async (error: unknown) => {
    // Whatever failed, the API comes back: a failed restore left the database unchanged.
    if (api.count && !startAttempted) {
      try {
        await startApi();
      } catch (startError) {
        throw new ShopctlError(`${messageOf(error)}; then starting the API again failed too: ${messageOf(startError)}`, {
          exitCode: ExitCode.UNHEALTHY,
          detail: startError instanceof ShopctlError ? startError.detail : undefined,
        });
      }
    }
    throw error;
  });

  const lines = [
    `Restored ${path} into ${target.database} (${formatBytes(size)}, ${check.tocEntries} TOC entries, sha256 ${sha256.slice(0, 16)}...)`,
    `  safety backup of the previous data: ${state.safety?.path}`,
    `  rows now: ${Object.entries(state.counts ?? {}).map(([t, n]) => `${t} ${n}`).join(', ')}`,
    `  API: ${api.count} container(s) healthy; took ${formatDuration(Date.now() - started)}`,
  ];
  return {
    data: { restored: path, database: target.database, sha256, sizeBytes: size, safetyBackup: state.safety?.path ?? null, rowCounts: state.counts ?? {}, apiContainers: api.count, durationMs: Date.now() - started },
    human: lines.join('\n'),
  };
}

