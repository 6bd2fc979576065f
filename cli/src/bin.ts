#!/usr/bin/env node
import { main } from './program.js';
import { commands } from './command-list.js';

process.exitCode = await main(process.argv, commands);
