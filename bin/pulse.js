#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so no build step stands between a checkout and `npx pulse`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
