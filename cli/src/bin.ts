#!/usr/bin/env node
import { main } from './program.js';
import { commands } from './commands/index.js';

process.exitCode = await main(process.argv, commands);
