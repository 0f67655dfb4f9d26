#!/usr/bin/env node
// An installed package runs its compiled JavaScript (dist/). A checkout runs its TypeScript through tsx, so no build
// step stands between an edit and `npx pulse`, and no stale dist/ can ever run there: src/ beside bin/ says which.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(source.href);
} else {
  cli = await import('../dist/cli/main.js');
}
await cli.main(process.argv);
