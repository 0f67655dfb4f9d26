/**
 * npm run bench:startup [-- --runs N --cwd DIR ...]: how long `pulse --help` takes to start, run with node directly
 * (node <bin> --help) and through npx (npx pulse --help), the median of N runs (default 9) after one warm-up run.
 * Each --cwd (repeatable; default: this checkout) is a pulse checkout or a project where pulse is installed
 * (node_modules/.bin/pulse); several are measured in turns, run by run, so that a busy machine slows them alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, cwd: { type: 'string', multiple: true, default: ['.'] } } });
const runs = Number(values.runs);
const targets = values.cwd.map((dir) => {
  const cwd = resolve(dir);
  const installed = join(cwd, 'node_modules', '.bin', 'pulse');
  const bin = realpathSync(existsSync(join(cwd, 'bin', 'pulse.js')) ? join(cwd, 'bin', 'pulse.js') : installed);
  return { cwd, commands: { node: [process.execPath, bin, '--help'], npx: ['npx', 'pulse', '--help'] } };
});

function seconds(cwd: string, [command, ...args]: string[]): number {
  const started = performance.now();
  const r = spawnSync(command!, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} in ${cwd} failed: ${r.stderr}`);
  return (performance.now() - started) / 1000;
}

for (const via of ['node', 'npx'] as const) {
  for (const t of targets) seconds(t.cwd, t.commands[via]);
  const times = targets.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) for (const [k, t] of targets.entries()) times[k]!.push(seconds(t.cwd, t.commands[via]));
  for (const [k, t] of targets.entries()) {
    const sorted = times[k]!.sort((a, b) => a - b);
    console.log(`pulse --help via ${via.padEnd(4)} in ${t.cwd}: median ${sorted[Math.floor(runs / 2)]!.toFixed(3)} s of ${runs} (${sorted.map((s) => s.toFixed(2)).join(' ')})`);
  }
}
