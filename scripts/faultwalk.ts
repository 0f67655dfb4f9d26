/**
 * npm run faultwalk [-- --ops write,fsync,rename --errors ENOSPC,EIO,EACCES --every 1 --offset 0 | --points N]
 *
 * The fault-injection walk, as SQLite tests its I/O errors: a quick run (the tests' tiny model, every
 * scenario and method of the preset, the report) is run once uninterrupted, counting the write
 * layer's operations; then, for each operation kind and each N (every one, every k-th with --every
 * starting at 1 + offset, so that walks with other offsets cover the rest, or N points spread over
 * the run with --points), the same command with PULSE_FAULT=<op>:<N>:<errno>
 * (the errnos in turn), then once more with the fault lifted. Each faulted attempt must finish or stop
 * with exactly one `pulse: cannot write <file>: ...` line and exit status 2; each resumed run must
 * finish with the files of the uninterrupted run (results.json timings aside, results.csv, the
 * samples.parquet rows, the report and its charts) and leave no temp file, lock, claim or empty folder (a
 * fault inside the report included). Exits 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { campaignReference, errorLines, runPulse } from './campaigns/cli.ts';
import { compareRunFolders } from './campaigns/compare-runs.ts';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: 'write,fsync,rename' }, errors: { type: 'string', default: 'ENOSPC,EIO,EACCES' },
    every: { type: 'string', default: '1' }, offset: { type: 'string', default: '0' }, points: { type: 'string' },
  },
});
const ops = values.ops.split(',') as ('write' | 'fsync' | 'rename')[];
const errors = values.errors.split(',');
const every = Number(values.every);
const offset = Number(values.offset);
if (!Number.isInteger(every) || every < 1 || !Number.isInteger(offset) || offset < 0 || offset >= every) {
  throw new Error(`--every must be a positive integer and --offset an integer in 0 .. every - 1 (got ${values.every}, ${values.offset})`);
}

const started = performance.now();
const { dir, command, reference, counts, ms } = await campaignReference([]);
console.log(`reference quick run: ${(ms / 1000).toFixed(1)} s, write-layer operations: ${ops.map((op) => `${op} ${counts[op]}`).join(', ')}`);

const at = (op: keyof typeof counts): number[] => {
  const n = counts[op];
  if (values.points) {
    const p = Number(values.points);
    return [...new Set(Array.from({ length: p }, (_, i) => Math.max(1, Math.round(((i + 0.5) * n) / p))))];
  }
  return Array.from({ length: Math.ceil((n - offset) / every) }, (_, i) => 1 + offset + i * every);
};

interface Tally { tried: number; stopped: number; finished: number; identical: number; failures: string[] }
const tallies = new Map<string, Tally>();
for (const op of ops) {
  const tally: Tally = { tried: 0, stopped: 0, finished: 0, identical: 0, failures: [] };
  tallies.set(op, tally);
  for (const n of at(op)) {
    const code = errors[(n - 1) % errors.length]!;
    const spec = `${op}:${n}:${code}`;
    const out = join(dir, 'runs', `${op}-${n}`);
    tally.tried++;
    const faulted = await runPulse(dir, command(out), { env: { PULSE_FAULT: spec }, timeoutMs: 600_000 });
    const lines = errorLines(faulted.stderr);
    if (faulted.code === 0 && lines.length === 0) tally.finished++;
    else if (faulted.code === 2 && lines.length === 1 && /^pulse: cannot write \/\S+: /.test(lines[0]!)) tally.stopped++;
    else {
      tally.failures.push(`${spec}: exit ${faulted.code ?? faulted.signal}, ${lines.length} lines: ${lines.slice(0, 3).join(' | ').slice(0, 400)}`);
      continue;
    }
    const resumed = await runPulse(dir, command(out), { timeoutMs: 600_000 });
    if (resumed.code !== 0) {
      tally.failures.push(`${spec}, resumed: exit ${resumed.code ?? resumed.signal}: ${errorLines(resumed.stderr).slice(0, 3).join(' | ').slice(0, 400)}`);
      continue;
    }
    const { problems } = await compareRunFolders(reference, out);
    if (problems.length) tally.failures.push(`${spec}, resumed: ${problems.join('; ').slice(0, 400)}`);
    else tally.identical++;
    process.stderr.write(`\r${op} ${n}/${counts[op]}   `);
  }
}
process.stderr.write('\n');

console.log(`\nfault walk: ${[...tallies.values()].reduce((s, t) => s + t.tried, 0)} faulted runs in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
console.log('| operation | faults tried | stopped with one line | finished anyway | resumed identical | failures |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [op, t] of tallies) console.log(`| ${op} | ${t.tried} | ${t.stopped} | ${t.finished} | ${t.identical} | ${t.failures.length} |`);
const failures = [...tallies.values()].flatMap((t) => t.failures);
for (const f of failures.slice(0, 30)) console.log(`FAIL ${f}`);
if (failures.length) {
  console.log(`fixture and run folders (kept): ${dir}`);
  console.log(`reproduce a fault: cd ${dir} && PULSE_FAULT=<op>:<n>:<errno> pulse ${command('runs/<op>-<n>').join(' ')}, then the same command without PULSE_FAULT`);
}
else rmSync(dir, { recursive: true, force: true });
process.exitCode = failures.length ? 1 : 0;
