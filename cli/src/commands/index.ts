import type { CommandModule } from '../program.js';
import { initCommand } from './init.js';
import { deployModule } from './deploy.js';
import { backupModule } from './backup.js';
import { restoreModule } from './restore.js';

/** Every command, in the order `shopctl --help` lists them. */
export const commands: readonly CommandModule[] = [initCommand, deployModule, backupModule, restoreModule];
