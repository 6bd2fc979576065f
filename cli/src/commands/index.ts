import type { CommandModule } from '../program.js';
import { initCommand } from './init.js';
import { backupModule } from './backup.js';

/** Every command, in the order `shopctl --help` lists them. */
export const commands: readonly CommandModule[] = [initCommand, backupModule];
