#!/usr/bin/env node
// Entry point of the `promptscope` command. The project is written in TypeScript and runs
// through tsx's loader, so there is no build step between a clone and a run.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/promptscope.ts');
process.exitCode = await main(process.argv.slice(2));
