import type { Context } from '../context.js';
import { ShopctlError, messageOf } from '../errors.js';
import { formatDuration, sleep } from '../time.js';
import { execChecked } from '../docker/exec.js';
import { copyFileOut } from '../docker/archive.js';
import { SERVICES } from '../orchestrators/orchestrator.js';
import { containerSetting } from './postgres.js';
import { streamToFile } from './files.js';

function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export interface RedisSnapshot {
  size: number;
  sha256: string;
  /** False when the ACL refused BGSAVE and the last automatic snapshot was copied instead. */
  fresh: boolean;
  snapshotAt: string | null;
}

/**
 * A Redis RDB snapshot: BGSAVE, wait until rdb_last_save_time moves (INFO persistence),
 * then copy the file out with GET /archive. BGSAVE is tried as REDIS_BACKUP_USER (an ACL
 * user allowed +bgsave) and as the default user; when the ACL refuses both, the newest
 * automatic snapshot is copied and its age reported.
 */
export async function redisSnapshot(ctx: Context, tmpPath: string, onStep: (s: string) => void): Promise<RedisSnapshot> {
  const docker = await ctx.docker();
  const cache = await ctx.orchestrator.runningContainer(SERVICES.cache);
  const password = await containerSetting(docker, cache, 'REDIS_PASSWORD');
  const backupUser = await containerSetting(docker, cache, 'REDIS_BACKUP_USER');
  // REDISCLI_AUTH keeps the password out of the process list (as the healthcheck does).
  const env = password ? [`REDISCLI_AUTH=${password}`] : [];
  const cli = (user: string | undefined, ...args: string[]) => ['redis-cli', '--no-auth-warning', ...(user ? ['--user', user] : []), ...args];
  const call = async (user: string | undefined, ...args: string[]) => (await execChecked(docker, cache.Id, cli(user, ...args), `redis-cli ${args[0]}`, { env, signal: ctx.signal })).stdout.trim();
  const persistence = () => call(undefined, 'INFO', 'persistence');
  const before = await persistence();
  const t0 = Number(infoField(before, 'rdb_last_save_time') ?? 0);
  let fresh = false;
  const refusals: string[] = [];
  for (const user of [...(backupUser ? [backupUser] : []), undefined]) {
    onStep(`redis: BGSAVE${user ? ` as ${user}` : ''}`);
    const reply = await call(user, 'BGSAVE');
    if (/Background saving (started|scheduled)|already in progress/i.test(reply)) {
      fresh = true;
      break;
    }
    refusals.push(`${user ?? 'default'}: ${reply.split('\n')[0]}`);
  }
  let info = before;
  if (fresh) {
    const deadline = Date.now() + 300_000;
    for (;;) {
      info = await persistence();
      if (infoField(info, 'rdb_bgsave_in_progress') === '0' && Number(infoField(info, 'rdb_last_save_time') ?? 0) > t0) break;
      if (Date.now() > deadline) throw new ShopctlError('redis BGSAVE did not finish within 5 min');
      await sleep(200);
    }
    if (infoField(info, 'rdb_last_bgsave_status') !== 'ok') throw new ShopctlError('redis reports that its BGSAVE failed', { detail: info });
  } else {
    const age = t0 ? formatDuration(Date.now() - t0 * 1000) : 'never';
    ctx.output.warn(
      `the Redis ACL refuses BGSAVE (${refusals.join('; ')}): copying the last automatic snapshot, taken ${age} ago. ` +
        'For a fresh one, give an ACL user +bgsave and set REDIS_BACKUP_USER on the cache service.',
    );
  }
  // CONFIG is usually denied by the ACL: the image's defaults (and config/redis.conf) are /data/dump.rdb.
  const path = '/data/dump.rdb';
  onStep(`redis: copying ${path}`);
  const copied = await streamToFile(tmpPath, async (write) => {
    try {
      await copyFileOut(docker, cache.Id, path, write);
    } catch (error) {
      if (!fresh && /404|Could not find/.test(messageOf(error))) {
        throw new ShopctlError(`Redis has no snapshot yet (${path}) and its ACL refuses BGSAVE: nothing to copy`, {
          hint: 'Give an ACL user +bgsave and set REDIS_BACKUP_USER on the cache service, or back up without --with-redis.',
        });
      }
      throw error;
    }
  });
  const savedAt = Number(infoField(info, 'rdb_last_save_time') ?? 0);
  return { ...copied, fresh, snapshotAt: savedAt ? new Date(savedAt * 1000).toISOString() : null };
}

