import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeMetrics } from '../state/backup-files.js';
import { writeFileAtomic } from '../state/fs-atomic.js';

/** Rewrites the metric families in `update` in backups/metrics/backup.prom, which the proxy serves at :8081/backup-metrics. */
export async function writeBackupMetrics(backupDir: string, update: string): Promise<void> {
  const dir = join(backupDir, 'metrics');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, 'backup.prom');
  const existing = await readFile(path, 'utf8').catch(() => '');
  // Read by the proxy's nginx user through a read-only mount: world-readable, holds no secret.
  await writeFileAtomic(path, mergeMetrics(existing, update), 0o644);
}
