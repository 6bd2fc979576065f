import type { CommandModule } from './command.js';
import { initCommand } from './commands/init.js';
import { deployModule } from './commands/deploy.js';
import { rollbackModule } from './commands/rollback.js';
import { releasesModule } from './commands/releases.js';
import { unlockModule } from './commands/unlock.js';
import { backupModule } from './commands/backup.js';
import { restoreModule } from './commands/restore.js';
import { healthModule } from './commands/health.js';
import { statusModule } from './commands/status.js';
import { verifyModule } from './commands/verify.js';
import { migrateModule } from './commands/migrate.js';

/** Every command, in the order `shopctl --help` lists them. */
export const commands: readonly CommandModule[] = [initCommand, deployModule, rollbackModule, releasesModule, unlockModule, backupModule, restoreModule, healthModule, statusModule, verifyModule, migrateModule];
