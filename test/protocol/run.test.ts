import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { Results } from '../../src/protocol/results-schema.ts';
import { PulseError } from '../../src/errors.ts';
import { comparableResults, protocolFixture, pulseCli } from './fixture.ts';
import { silentProgress, type ProgressFactory } from '../../src/progress.ts';
import { injectFaults, ioCounts, WriteError } from '../../src/atomic-file.ts';
import { compareRunFolders } from '../../scripts/campaigns/compare-runs.ts';

const PULSE = resolve('bin/pulse.js');
const fixture = await protocolFixture();
const pulse = (args: string[]) => pulseCli(fixture.dir, args);

function runInProcess(outDir: string, configFile = fixture.config) {
  const config = resolveConfig({ preset: 'quick', file: configFile });
  return runProtocol({ config, outDir, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c) => loadProtocolData(c.world) });
}

const comparable = comparableResults;

const reference = join(fixture.dir, 'runs', 'reference');
await runInProcess(reference);

test('a quick run covers every scenario and method, with scores by modality and valid results.json', () => {
  const results = Results.parse(JSON.parse(readFileSync(join(reference, 'results.json'), 'utf8')));
  assert.deepEqual(results.scenarios.map((s) => s.scenario), ['fine_tuned', 'pre_trained', 'sustainability']);
  for (const s of results.scenarios) {
    assert.equal(s.status, 'complete');
    assert.ok(s.before!.unlearn.multimodal !== null && s.before!.unlearn.text_only !== null);
    assert.equal(new Set([...s.splits.unlearn, ...s.splits.retain]).size, s.splits.unlearn.length + s.splits.retain.length, 'D_unlearn and D_retain are disjoint');
    for (const m of s.methods) {
      assert.equal(m.status, 'complete');
      assert.equal(m.requests.length, s.splits.requests.length);
      assert.deepEqual(m.requests.map((r) => r.people), s.splits.requests);
    }
  }
  const fineTuned = results.scenarios[0]!;
  assert.deepEqual(fineTuned.methods.map((m) => `${m.method}@${m.update_target}`), ['ga@projector+llm', 'ga_klr@projector+llm', 'npo@projector+llm', 'ga@llm']);
  assert.equal(results.scenarios[2]!.splits.requests.length, 3, 'sustainability: the quick preset has 3 requests');
  assert.deepEqual(results.scenarios[2]!.splits.unlearn, fineTuned.splits.unlearn, 'sustainability unlearns the fine-tuned scenario\'s people');
  assert.ok(results.scenarios[1]!.selection!.kept.length >= 6);
  const first = fineTuned.methods[0]!.requests[0]!;
  const expected = 100 * (1 - first.after.unlearn.overall! / fineTuned.before!.unlearn.overall!);
  assert.ok(Math.abs(first.relative.forgotten_unlearn.overall! - expected) < 1e-9);
  assert.ok(!existsSync(join(reference, 'checkpoints')), 'no checkpoints/ folder');
  assert.deepEqual(readdirSync(join(reference, 'cells')).flatMap((c) => readdirSync(join(reference, 'cells', c))).filter((f) => f.endsWith('.safetensors')), [],
    'finished sequences leave no state delta behind');
});

test('a run killed mid-way and started again ends with exactly the numbers of an uninterrupted run', async () => {
  const out = join(fixture.dir, 'runs', 'killed');
  const child = spawn(process.execPath, [PULSE, 'run', '--preset', 'quick', '--config', fixture.config, '--out', out], { cwd: fixture.dir, stdio: 'ignore' });
  // Wait until at least one request has finished (a cell's record holds it), then kill -9.
  await new Promise<void>((done, fail) => {
    const timer = setInterval(() => {
      const cells = join(out, 'cells');
      const records = existsSync(cells) ? readdirSync(cells).map((c) => join(cells, c, 'record.json')).filter(existsSync) : [];
      if (records.some((r) => JSON.parse(readFileSync(r, 'utf8')).requests.length > 0)) {
        clearInterval(timer);
        child.kill('SIGKILL');
        done();
      }
    }, 50);
    child.on('exit', () => { clearInterval(timer); fail(new Error('the run finished before it could be killed')); });
  });
  assert.ok(!existsSync(join(out, 'results.json')), 'results.json is written by the finish alone');
  const again = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /resuming the run/);
  assert.deepEqual(comparable(join(out, 'results.json')), comparable(join(reference, 'results.json')));
});

test('a sequence stopped after a request resumes from its saved state deltas and ends with the same numbers', async () => {
  const out = join(fixture.dir, 'runs', 'stopped');
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { scenarios: ['sustainability'], methods: ['ga_klr'] } });
  const options = { config, outDir: out, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c: typeof config) => loadProtocolData(c.world) };
  const stopAtSecond: ProgressFactory = (label, total) => {
    if (label.endsWith(' 2/3')) throw new Error('stopped before request 2');
    return silentProgress(label, total);
  };
  await assert.rejects(runProtocol({ ...options, progress: stopAtSecond }), /stopped before request 2/);
  const cell = join(out, 'cells', 's0~sustainability~ga_klr~projector+llm');
  assert.deepEqual(readdirSync(cell).filter((f) => f.endsWith('.safetensors')), ['r1.safetensors'], 'request 1 is saved as a state delta');
  const { results } = await runProtocol(options);
  const requests = (r: Results) => r.scenarios.find((s) => s.scenario === 'sustainability')!.methods.find((m) => m.method === 'ga_klr')!
    .requests.map(({ seconds: _, ...rest }) => rest);
  assert.deepEqual(requests(results), requests(Results.parse(JSON.parse(readFileSync(join(reference, 'results.json'), 'utf8')))));
  assert.deepEqual(readdirSync(cell).filter((f) => f.endsWith('.safetensors')), [], 'a finished sequence leaves no state delta behind');
});

test('a run stopped right after a method\'s last request was saved resumes without looking for that request\'s delta', async () => {
  const out = join(fixture.dir, 'runs', 'stopped-last');
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { scenarios: ['fine_tuned'], methods: ['ga'] } });
  const options = { config, outDir: out, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c: typeof config) => loadProtocolData(c.world) };
  // the request line is logged after its results are saved and before the method is marked complete
  const crash = (line: string) => { if (/ga \[projector\+llm\] request 1\/1/.test(line)) throw new Error('stopped after the last request'); };
  await assert.rejects(runProtocol({ ...options, log: crash }), /stopped after the last request/);
  const { results } = await runProtocol(options);
  const ga = results.scenarios[0]!.methods.find((m) => m.method === 'ga' && m.update_target === 'projector+llm')!;
  assert.equal(ga.status, 'complete');
  assert.equal(ga.requests.length, 1, 'the saved request is kept, not run again');
});

test('a corrupted or mismatched run folder is a clear error, never mixed', async () => {
  const corrupt = join(fixture.dir, 'runs', 'corrupt');
  const first = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--out', corrupt, '--scenarios', 'pre_trained', '--methods', 'ga']);
  assert.equal(first.code, 0, first.stderr);
  const other = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--out', corrupt, '--scenarios', 'pre_trained', '--methods', 'npo']);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /holds a run with a different configuration/);
  writeFileSync(join(corrupt, 'results.json'), '{"schema": "pulse.results", "truncated');
  const broken = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--out', corrupt, '--scenarios', 'pre_trained', '--methods', 'ga']);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /results\.json is corrupted/);
});

test('a diverging method is recorded as failed with its reason; the other methods still run', async () => {
  const out = join(fixture.dir, 'runs', 'diverge');
  const { results } = await runProtocol({
    config: resolveConfig({ preset: 'quick', file: fixture.config, overrides: { scenarios: ['pre_trained'], method_settings: { ga: { lr: 1e30, clip_norm: 1e30 } } } }),
    outDir: out, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c) => loadProtocolData(c.world),
  });
  const methods = results.scenarios[0]!.methods;
  const ga = methods.find((m) => m.method === 'ga')!;
  assert.equal(ga.status, 'failed');
  assert.match(ga.error!, /ga: the loss became (NaN|-?Infinity) at step \d+/);
  assert.equal(results.scenarios[0]!.status, 'partial');
  for (const m of methods.filter((x) => x.method !== 'ga')) assert.equal(m.status, 'complete');
});

test('bad command-line values are errors that name them', async () => {
  const r = await pulse(['run', '--scenarios', 'fine_tuned,everything']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown value 'everything'/);
  const m = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--methods', 'sgd', '--out', join(fixture.dir, 'runs', 'x')]);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /unknown unlearning method 'sgd'/);
  assert.throws(() => runInProcess(join(fixture.dir, 'runs', 'y'), join(fixture.dir, 'missing.yaml')), (e: unknown) => e instanceof PulseError && /cannot read config .*missing\.yaml/.test(e.message));
});

// --- faults at the write layer (PULSE_FAULT, as SQLite tests its I/O errors) and kills inside single writes, on a small run:
// each attempt either finishes or stops with one WriteError naming a file, and the same run with the fault lifted finishes with
// exactly the files of an uninterrupted run. The full walk over every write of a quick run is `npm run faultwalk`; kills at random
// moments, inside the report too, are `npm run crashtest`.

const SCOPE = { scenarios: ['fine_tuned', 'sustainability'], methods: ['ga'] };
const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: SCOPE });
const data = await loadProtocolData(config.world);
const runSmall = (outDir: string) => runProtocol({ config, outDir, preset: 'quick', cacheDir: join(fixture.dir, '.cache', 'pulse'), loadData: async () => data });

const smallReference = join(fixture.dir, 'runs', 'small-reference');
injectFaults(null);
await runSmall(smallReference);
const counts = ioCounts();

test('an I/O error at a write, fsync or rename anywhere in a run is one line naming the file; lifted, the run ends as an uninterrupted one', async () => {
  const points = [['write', 0.15, 'ENOSPC'], ['fsync', 0.5, 'EIO'], ['rename', 0.9, 'EACCES']] as const;
  for (const [op, share, code] of points) {
    const at = Math.max(1, Math.round(share * counts[op]));
    const out = join(fixture.dir, 'runs', `${op}-${at}`);
    injectFaults(`${op}:${at}:${code}`);
    try {
      await assert.rejects(runSmall(out), (e: unknown) => e instanceof WriteError && e.code === code && !e.message.includes('\n')
        && e.message.startsWith(`cannot write ${fixture.dir}`), `${op} ${at} of ${counts[op]}`);
    } finally {
      injectFaults(null);
    }
    await runSmall(out);
    const { problems } = await compareRunFolders(smallReference, out, { report: false });
    assert.deepEqual(problems, [], `${op}:${at}:${code}`);
  }
});

test('a run killed inside a write (a torn temp file, or a complete one not yet renamed) resumes to the same files, leaving no temp file', async () => {
  for (const [op, share] of [['write', 0.4], ['rename', 0.7]] as const) {
    const at = Math.round(share * counts[op]);
    const out = join(fixture.dir, 'runs', `kill-${op}-${at}`);
    const args = ['run', '--preset', 'quick', '--config', fixture.config, '--out', out, '--no-report', '--scenarios', SCOPE.scenarios.join(','), '--methods', 'ga'];
    const killed = await pulseCli(fixture.dir, args, undefined, { PULSE_FAULT: `${op}:${at}:KILL` });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    await runSmall(out);
    const { problems } = await compareRunFolders(smallReference, out, { report: false });
    assert.deepEqual(problems, [], `${op}:${at}:KILL`);
  }
});
