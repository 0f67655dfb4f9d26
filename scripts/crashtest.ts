/**
 * npm run crashtest [-- --kills 50 --seed 1]
 *
 * The crash test: a quick run with two seeds and every attack (the tests' tiny model), run once
 * uninterrupted as the reference; then, per kill, the same command SIGKILLed at a seeded random moment
 * (half of the kills at a random time of the run, half inside a single write of the write layer: in the
 * middle of a temp file's write, before its fsync, or between the complete temp file and its rename)
 * and run again to the end. The resumed run must give the reference's results.json (timings aside),
 * results.csv, samples.parquet rows, the report and its charts (a kill inside the report included: the finish
 * writes it before the run is marked finished), and leave no temp file, lock, claim or empty folder.
 * Exits 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deriveSeed, rng } from '../src/random.ts';
import { campaignReference, errorLines, phaseOf, runPulse } from './campaigns/cli.ts';
import { compareRunFolders } from './campaigns/compare-runs.ts';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' } } });
const kills = Number(values.kills);
const seed = Number(values.seed);

const started = performance.now();
const { dir, command, reference, counts, files, ms } = await campaignReference(['--seeds', '0,1', '--attacks', 'all']);
console.log(`reference run (seeds 0,1, every attack): ${(ms / 1000).toFixed(1)} s, write-layer operations: write ${counts.write}, fsync ${counts.fsync}, rename ${counts.rename}`);

type Outcome = 'identical' | 'finished before the kill' | 'FAIL';
const outcomes = new Map<string, Map<Outcome, number>>();
const failures: string[] = [];
const note = (where: string, outcome: Outcome) => {
  const byOutcome = outcomes.get(where) ?? new Map<Outcome, number>();
  byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  outcomes.set(where, byOutcome);
};

for (let i = 0; i < kills; i++) {
  const random = rng(deriveSeed(seed, 'crashtest', i));
  const out = join(dir, 'runs', `kill-${i}`);
  let how: string;
  let where: string;
  let killed;
  if (i % 2 === 0) {
    const at = Math.round((0.03 + 0.97 * random()) * ms);
    how = `SIGKILL at ${(at / 1000).toFixed(1)} s`;
    killed = await runPulse(dir, command(out), { killAfterMs: at });
    const results = join(out, 'results.json');
    const finished = existsSync(results) && (JSON.parse(readFileSync(results, 'utf8')) as { run: { finished_at: string | null } }).run.finished_at !== null;
    where = killed.signal !== 'SIGKILL' ? 'after the end' : finished ? 'report (time)' : 'run (time)';
  } else {
    const op = (['write', 'fsync', 'rename'] as const)[Math.floor(random() * 3)]!;
    const n = 1 + Math.floor(random() * counts[op]);
    how = `PULSE_FAULT=${op}:${n}:KILL (${files[op][n - 1]})`;
    where = `${phaseOf(files[op][n - 1] ?? '')} (inside a ${op})`;
    killed = await runPulse(dir, command(out), { env: { PULSE_FAULT: `${op}:${n}:KILL` } });
  }
  if (killed.signal !== 'SIGKILL') {
    if (killed.code === 0) note(where, 'finished before the kill');
    else { note(where, 'FAIL'); failures.push(`kill ${i}, ${how}: the run ended with ${killed.code}: ${errorLines(killed.stderr).join(' | ').slice(0, 300)}`); }
    continue;
  }
  const resumed = await runPulse(dir, command(out), { timeoutMs: 900_000 });
  if (resumed.code !== 0) {
    note(where, 'FAIL');
    failures.push(`kill ${i}, ${how}: the resumed run ended with ${resumed.code ?? resumed.signal}: ${errorLines(resumed.stderr).join(' | ').slice(0, 300)}`);
    continue;
  }
  const { problems } = await compareRunFolders(reference, out);
  if (problems.length) {
    note(where, 'FAIL');
    failures.push(`kill ${i}, ${how}: ${problems.join('; ').slice(0, 400)}`);
  } else note(where, 'identical');
  process.stderr.write(`\rkill ${i + 1}/${kills}   `);
}
process.stderr.write('\n');

const columns: Outcome[] = ['identical', 'finished before the kill', 'FAIL'];
console.log(`\ncrash test: ${kills} kills in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
console.log(`| where the kill landed | kills | ${columns.join(' | ')} |`);
console.log(`| --- | --- | ${columns.map(() => '---').join(' | ')} |`);
for (const [where, byOutcome] of [...outcomes].sort()) {
  const total = [...byOutcome.values()].reduce((a, b) => a + b, 0);
  console.log(`| ${where} | ${total} | ${columns.map((c) => byOutcome.get(c) ?? 0).join(' | ')} |`);
}
for (const f of failures.slice(0, 30)) console.log(`FAIL ${f}`);
if (failures.length) {
  console.log(`fixture and run folders (kept): ${dir}`);
  console.log(`reproduce a kill: cd ${dir} && [PULSE_FAULT=<op>:<n>:KILL] pulse ${command('runs/kill-<i>').join(' ')}, then the same command without PULSE_FAULT`);
}
else rmSync(dir, { recursive: true, force: true });
process.exitCode = failures.length ? 1 : 0;
