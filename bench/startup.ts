/**
 * npm run bench:startup [-- --runs N] [-- --cwd DIR]: how long `pulse --help` takes to start, run with node
 * directly (node bin/pulse.js --help) and through npx (npx pulse --help), each the median of N runs (default 7)
 * after one warm-up run. --cwd runs both in another folder (e.g. a project with pulse installed, where
 * bin/pulse.js is node_modules/.bin/pulse's target).
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, cwd: { type: 'string', default: '.' } } });
const runs = Number(values.runs);
const cwd = resolve(values.cwd);
const bin = realpathSync(cwd === resolve('.') ? 'bin/pulse.js' : join(cwd, 'node_modules', '.bin', 'pulse'));

function seconds(command: string, args: string[]): number {
  const started = performance.now();
  const r = spawnSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - started) / 1000;
}

function median(command: string, args: string[]): { median: number; all: number[] } {
  seconds(command, args);
  const all = Array.from({ length: runs }, () => seconds(command, args)).sort((a, b) => a - b);
  return { median: all[Math.floor(all.length / 2)]!, all };
}

for (const [label, command, args] of [['node', process.execPath, [bin, '--help']], ['npx', 'npx', ['pulse', '--help']]] as const) {
  const { median: m, all } = median(command, [...args]);
  console.log(`pulse --help via ${label.padEnd(4)}: median ${m.toFixed(3)} s of ${runs} (${all.map((s) => s.toFixed(2)).join(' ')})`);
}
