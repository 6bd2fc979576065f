import type { CommandModule } from '../command.js';
import { initCommand } from './init.js';
import { deployModule } from './deploy.js';
import { rollbackModule } from './rollback.js';
import { releasesModule } from './releases.js';
import { backupModule } from './backup.js';
import { restoreModule } from './restore.js';
import { healthModule } from './health.js';
import { migrateModule } from './migrate.js';
import { verifyModule } from './verify.js';

/** Every command, in the order `shopctl --help` lists them. */
export const commands: readonly CommandModule[] = [initCommand, deployModule, rollbackModule, releasesModule, backupModule, restoreModule, healthModule, verifyModule, migrateModule];
