import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { readSamples } from '../../src/protocol/samples-file.ts';
import { MethodResult } from '../../src/protocol/results-schema.ts';
import { comparableResults, protocolFixture, pulseCli, slurmSkip } from '../protocol/fixture.ts';

/*
 * One study, the quick preset with two seeds (every scenario, GA and its update-target ablation,
 * the retain oracle), run by every executor: in this process, by `pulse run` killed inside its
 * report and run again, by two local workers one of which is killed in the middle of a cell, by two
 * `pulse run --workers 2` started at once on one folder, and by Slurm with one array task cancelled.
 * Each must give the numbers of the first, to the last per-question row.
 */
const fixture = await protocolFixture({ seeds: [0, 1], methods: ['ga'], eval: { general_items: 20, oracle: true } });
const PULSE = resolve('bin/pulse.js');
const cacheDir = join(fixture.dir, '.cache', 'pulse');
const reference = join(fixture.dir, 'runs', 'reference');
await runProtocol({
  config: resolveConfig({ preset: 'quick', file: fixture.config }), outDir: reference, preset: 'quick', cacheDir, loadData: (c) => loadProtocolData(c.world),
});
const runArgs = (out: string, ...more: string[]) => ['run', '--preset', 'quick', '--config', fixture.config, '--out', out, ...more];

/** The same numbers, per-question rows and CSV as the reference run. */
async function assertSameAsReference(out: string): Promise<void> {
  assert.deepEqual(comparableResults(join(out, 'results.json')), comparableResults(join(reference, 'results.json')));
  assert.deepEqual(await readSamples(join(out, 'samples.parquet')), await readSamples(join(reference, 'samples.parquet')));
  assert.equal(readFileSync(join(out, 'results.csv'), 'utf8'), readFileSync(join(reference, 'results.csv'), 'utf8'));
}

function cellRecords(out: string): { key: string; record: MethodResult }[] {
  const cells = join(out, 'cells');
  return readdirSync(cells).map((key) => ({ key, record: MethodResult.parse(JSON.parse(readFileSync(join(cells, key, 'record.json'), 'utf8'))) }));
}

/** `pulse ...` in the fixture folder; `onLine` sees each line of its stderr as it comes. */
function pulse(args: string[], onLine: (line: string, child: ChildProcess) => void = () => {}) {
  const child = spawn(process.execPath, [PULSE, ...args], { cwd: fixture.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) onLine(line, child);
  });
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((done) => child.on('exit', (code, signal) => done({ code, signal, stderr })));
  return { child, exit };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Sends `name` to `pid`; false if that process has ended. */
function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    return process.kill(pid, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

test('pulse run killed inside its report: the same command finishes the report without running a step again, with the same numbers', async () => {
  const out = join(fixture.dir, 'runs', 'plain');
  const { child, exit } = pulse(runArgs(out));
  // the report writes its charts first: kill as soon as one is there
  for (;;) {
    if (existsSync(join(out, 'charts')) && readdirSync(join(out, 'charts')).some((f) => f.endsWith('.svg'))) { child.kill('SIGKILL'); break; }
    if (child.exitCode !== null) assert.fail('the run finished before its report could be killed');
    await sleep(20);
  }
  assert.equal((await exit).signal, 'SIGKILL');
  assert.equal(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).run.finished_at, null, 'not marked finished before its report is written');
  const again = await pulseCli(fixture.dir, runArgs(out));
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /request \d\/\d|scoring the starting model/, 'no step runs again');
  assert.ok(existsSync(join(out, 'report.html')));
  await assertSameAsReference(out);
  assert.ok(!existsSync(join(out, 'checkpoints')), 'no checkpoints/ folder');

  rmSync(join(out, 'report.html'));
  const rebuilt = await pulseCli(fixture.dir, runArgs(out));
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.match(rebuilt.stderr, /rebuilding report\.html \(missing or older than results\.json\); no step runs again/);
  assert.ok(existsSync(join(out, 'report.html')));
  const nothing = await pulseCli(fixture.dir, runArgs(out));
  assert.match(nothing.stderr, /this run finished at .*; nothing to do/);
});

test('two local workers, one killed (SIGKILL) in the middle of a cell: the other takes the cell over and the numbers are the same', async () => {
  const out = join(fixture.dir, 'runs', 'workers');
  const pids = new Map<string, number>();
  let killed: string | null = null;
  const { exit } = pulse(runArgs(out, '--workers', '2', '--no-report'), (line) => {
    const started = /\[pulse\] (worker \d): pid (\d+)/.exec(line);
    if (started) pids.set(started[1]!, Number(started[2]));
    // after its first request a worker is inside the sustainability cell, which has three
    const inside = /^\[(worker \d)\] \[pulse\] sustainability seed 0 ga \[projector\+llm\] request 1\/3/.exec(line);
    if (inside && !killed) { killed = inside[1]!; process.kill(pids.get(killed)!, 'SIGKILL'); }
  });
  const done = await exit;
  assert.equal(done.code, 0, done.stderr);
  assert.ok(killed, 'a worker was killed inside the cell');
  const cell = cellRecords(out).find((c) => c.key === 's0~sustainability~ga~projector+llm')!.record;
  const stretches = cell.placement!;
  assert.equal(stretches[0]!.worker, killed);
  assert.ok(stretches.length === 2 && stretches[1]!.worker !== killed, `the other worker finished the cell: ${JSON.stringify(stretches)}`);
  assert.deepEqual(stretches.flatMap((s) => s.requests), [1, 2, 3], 'each request ran once');
  await assertSameAsReference(out);
  const again = await pulseCli(fixture.dir, runArgs(out, '--workers', '2', '--no-report'));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /nothing to do/);

  // a worker reads the run's config.yaml as `pulse run` reads a config: damaged, it is one line, not a stack trace
  const damaged = join(fixture.dir, 'runs', 'damaged-config');
  cpSync(out, damaged, { recursive: true });
  writeFileSync(join(damaged, 'config.yaml'), 'seed: [1,\n');
  const worker = await pulseCli(fixture.dir, ['worker', damaged]);
  assert.equal(worker.code, 2, worker.stderr);
  assert.match(worker.stderr, /^pulse: config \S*damaged-config\/config\.yaml is not valid YAML: .*\n$/);
});

test('two `pulse run --workers 2` started at once on one folder: every step runs once', async () => {
  const out = join(fixture.dir, 'runs', 'together');
  const both = await Promise.all([0, 1].map(() => pulse(runArgs(out, '--workers', '2', '--no-report')).exit));
  for (const r of both) assert.equal(r.code, 0, r.stderr);
  const logs = both.map((r) => r.stderr).join('\n');
  assert.equal(logs.match(/scoring the starting model/g)?.length, 6, 'each (seed, scenario) prepared once');
  for (const { key, record } of cellRecords(out)) {
    assert.equal(record.placement!.length, 1, `${key} ran in one stretch: ${JSON.stringify(record.placement)}`);
    assert.deepEqual(record.placement![0]!.requests, record.requests.map((r) => r.request), `${key}: every request once`);
  }
  await assertSameAsReference(out);
});

test('Slurm (--executor slurm --wait) with one array task cancelled in the middle of a cell: the run finishes with the same numbers', {
  skip: slurmSkip(),
}, async () => {
  // a path a shell would take apart (spaces, quotes, $) above the run folder, whose own name is the run's id (src/names.ts)
  const out = join(fixture.dir, 'runs', `slurm it's "$HOME" $(x)`, 'slurm-run');
  const { exit } = pulse(runArgs(out, '--executor', 'slurm', '--jobs', '2', '--wait', '--no-report'));
  let ended: { code: number | null; stderr: string } | null = null;
  void exit.then((e) => { ended = e; });
  // cancel the task that holds the sustainability cell of seed 1 once a request of it, not all three, is recorded
  const cell = join(out, 'cells', 's1~sustainability~ga~projector+llm');
  let holder: { slurm_job: string; pid: number } | null = null;
  while (!holder) {
    if (ended) assert.fail(`pulse run ended before a task held the cell: ${(ended as { stderr: string }).stderr}`);
    const claim = existsSync(cell) ? readdirSync(cell).filter((f) => /^claim\.\d+$/.test(f)).sort().at(-1) : undefined;
    if (claim) holder = JSON.parse(readFileSync(join(cell, claim), 'utf8')) as { slurm_job: string; pid: number };
    else await sleep(20);
  }
  const cancelled = holder.slurm_job;
  // The holder is run in short slices (SIGCONT, a few ms, SIGSTOP) and the cell is read only while it is frozen:
  // a request takes many slices, so the cell is caught between two requests however fast or loaded the machine is.
  for (let slice = 0; ; slice++) {
    const alive = signal(holder.pid, 'SIGSTOP');
    const record = existsSync(join(cell, 'record.json')) ? MethodResult.parse(JSON.parse(readFileSync(join(cell, 'record.json'), 'utf8'))) : null;
    if (record && record.status !== 'pending') assert.fail(`the cell finished before its task could be cancelled (slice ${slice})`);
    if (record && record.requests.length >= 1) break;
    if (!alive) assert.fail(`the task holding the cell ended before a request was recorded: ${JSON.stringify(holder)}`);
    signal(holder.pid, 'SIGCONT');
    await sleep(10);
  }
  execFileSync('scancel', [cancelled]);
  const done = await exit;
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stderr, /submitted job array \d+ \(2 workers for 8 unfinished cells\) and job \d+/);
  const stretches = cellRecords(out).find((c) => c.key === 's1~sustainability~ga~projector+llm')!.record.placement!;
  assert.equal(stretches[0]!.slurm_job, cancelled);
  assert.ok(stretches.length === 2 && stretches[1]!.slurm_job !== cancelled, `another job finished the cell: ${JSON.stringify(stretches)}`);
  await assertSameAsReference(out);
  assert.match(readFileSync(join(out, 'slurm', 'worker.sh'), 'utf8'), /worker '.*slurm it'"'"'s "\$HOME" \$\(x\)\/slurm-run'/);
  const again = await pulseCli(fixture.dir, runArgs(out, '--executor', 'slurm', '--jobs', '2', '--wait', '--no-report'));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /nothing to do/);
});
