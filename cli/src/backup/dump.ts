import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { execChecked, execIn } from '../docker/exec.js';
import { PG_EXEC_USER, psqlArgs, type PostgresTarget } from './postgres.js';

/** Exact row counts of every base table in `public`, in one query (query_to_xml runs a count per table). */
const ROW_COUNTS_SQL = `SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;

export async function rowCounts(ctx: Context, target: PostgresTarget): Promise<Record<string, number>> {
  const docker = await ctx.docker();
  const r = await execChecked(docker, target.container.Id, psqlArgs(target, ROW_COUNTS_SQL), 'counting rows', { user: PG_EXEC_USER, signal: ctx.signal });
  const counts: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const [table, count] = line.split('\t');
    if (table && count !== undefined) counts[table] = Number(count);
  }
  return counts;
}

export interface DumpCheck {
  tocEntries: number;
}

/**
 * Proves a dump restores: `pg_restore --list` reads its table of contents, then a full
 * `pg_restore --file=/dev/null` reads every data block (a truncated or corrupted file fails
 * here). Runs inside the db container, the file fed through exec's stdin: nothing is copied in.
 */
export async function checkDump(ctx: Context, target: PostgresTarget, path: string): Promise<DumpCheck> {
  const docker = await ctx.docker();
  const list = await execIn(docker, target.container.Id, ['pg_restore', '--list'], {
    user: PG_EXEC_USER,
    stdin: createReadStream(path),
    stdinMayStopEarly: true,
    signal: ctx.signal,
  });
  if (list.exitCode !== 0) {
    throw new ShopctlError(`pg_restore cannot read the table of contents of ${path}`, { exitCode: ExitCode.INTEGRITY, detail: list.stderr.trim() || undefined });
  }
  const tocEntries = list.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
  const full = await execIn(docker, target.container.Id, ['pg_restore', '--file=/dev/null'], { user: PG_EXEC_USER, stdin: createReadStream(path), signal: ctx.signal });
  if (full.exitCode !== 0) {
    throw new ShopctlError(`pg_restore cannot read all of ${path} (truncated or corrupted)`, { exitCode: ExitCode.INTEGRITY, detail: full.stderr.trim() || undefined });
  }
  if (tocEntries === 0) throw new ShopctlError(`${path} has an empty table of contents`, { exitCode: ExitCode.INTEGRITY });
  return { tocEntries };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

