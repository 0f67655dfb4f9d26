import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { Results, type MethodResult } from '../../src/protocol/results-schema.ts';
import { readSamples } from '../../src/protocol/samples-file.ts';
import { comparableResults, protocolFixture, pulseCli, slurmSkip } from './fixture.ts';

// A sweep end to end, kept small: the fine-tuned scenario, ga, and npo at two learning rates (on the fixture's tiny
// model 0.003 forgets little and 0.03 nearly everything, so the report has points to choose between).
const fixture = await protocolFixture({ scenarios: ['fine_tuned'], methods: ['ga', 'npo'], ablation: null });
const sweep = join(fixture.dir, 'sweep.yaml');
const base = readFileSync(fixture.config, 'utf8');
writeFileSync(sweep, `${base}grid:\n  method_settings.npo.lr: [0.003, 0.03]\n`);
const out = join(fixture.dir, 'runs', 'sweep');
const run = await pulseCli(fixture.dir, ['run', '--preset', 'quick', '--config', sweep, '--out', out]);
const results = Results.parse(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
const VARIANTS = ['ga', 'npo@lr=0.003', 'npo@lr=0.03'];

test('pulse run with a grid: every grid point is its own method in results.json, samples.parquet and results.csv', async () => {
  assert.equal(run.code, 0, run.stderr);
  const scenario = results.scenarios[0]!;
  assert.deepEqual(scenario.methods.map((m) => m.method), VARIANTS);
  assert.deepEqual(scenario.methods.map((m) => [m.status, m.hyperparameters.lr]), [['complete', 3e-4], ['complete', 0.003], ['complete', 0.03]]);
  assert.deepEqual(results.run.config.grid, { 'method_settings.npo.lr': [0.003, 0.03] });
  const methods = new Set((await readSamples(join(out, 'samples.parquet'))).map((r) => r.method));
  assert.deepEqual([...methods].sort(), ['start', ...VARIANTS].sort());
  const csv = readFileSync(join(out, 'results.csv'), 'utf8');
  for (const name of VARIANTS) assert.match(csv, new RegExp(`,fine_tuned,${name.replace('.', '\\.')},projector\\+llm,`));
  const arms = new Set(results.summary!.cells.map((c) => c.method));
  assert.deepEqual([...arms], VARIANTS, 'each grid point is an arm of the summary');
});

test('a grid point gives the numbers of its method run without a grid at the same settings (same seeds)', async () => {
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { methods: ['npo'], method_settings: { npo: { lr: 0.003 } } } });
  const plain = await runProtocol({ config, outDir: join(fixture.dir, 'runs', 'plain'), preset: 'quick', cacheDir: join(fixture.dir, '.cache', 'pulse'),
    loadData: (c) => loadProtocolData(c.world) });
  const requests = (m: MethodResult) => m.requests.map(({ seconds: _, ...rest }) => rest);
  const npo = plain.results.scenarios[0]!.methods[0]!;
  const [, same, other] = results.scenarios[0]!.methods;
  assert.deepEqual(requests(same!), requests(npo));
  assert.notDeepEqual(requests(other!), requests(npo), 'the other learning rate unlearns differently');
});

test('the report of a sweep lists its grid points in the best-point and Pareto tables', () => {
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  const rows = (title: string) => md.split(`### ${title}\n\n`)[1]!.split('\n\n')[0]!.split('\n').slice(2).map((line) => line.split(' | ').map((c) => c.replace(/^\| |\s\|$/g, '')));
  const best = rows('Best grid point at matched forgetting');
  assert.deepEqual(best.map((r) => r.slice(0, 3)), [['ga', '25', '1'], ['ga', '50', '1'], ['ga', '75', '1'], ['npo', '25', '2'], ['npo', '50', '2'], ['npo', '75', '2']]);
  // the best point read straight from the summary: the highest retained % among the npo points that reached the level
  const expected = (metric: string, level: number) => {
    const reached = results.summary!.matched.filter((m) => m.method.startsWith('npo@') && m.metric === metric && m.level === level && m.per_seed[0]!.value !== null);
    return reached.sort((a, b) => b.per_seed[0]!.value! - a.per_seed[0]!.value!)[0]?.method ?? 'not reached';
  };
  const npo = best.filter((r) => r[0] === 'npo');
  assert.deepEqual(npo.map((r) => [r[3], r[5]]), [25, 50, 75].map((l) => [expected('retained_retain', l), expected('retained_general', l)]));
  assert.ok(npo.some((r) => r[3] !== 'not reached'), 'npo at lr 0.03 forgets enough to reach a level');
  const front = rows('Pareto front of the grid points');
  assert.ok(front.length > 0 && front.every((r) => VARIANTS.includes(r[0]!)), JSON.stringify(front));
  // the point that forgot the most is never beaten on forgetting: it (or one tied with it) is on the D_retain front
  const most = Math.max(...results.scenarios[0]!.methods.map((m) => m.requests[0]!.relative.forgotten_unlearn.overall!));
  assert.ok(front.some((r) => Number(r[1]) === Number(most.toFixed(1)) && r[4]!.includes('D_retain')), JSON.stringify(front));
});

/**
 * The sweep run again into `name` by another executor: its cells are the grid points, and its numbers, rows and CSV
 * the one process's. Returns the run folder.
 */
async function assertSameSweep(name: string, executor: string[], report = false): Promise<string> {
  const other = join(fixture.dir, 'runs', name);
  const done = await pulseCli(fixture.dir, ['run', '--preset', 'quick', '--config', sweep, '--out', other, ...(report ? [] : ['--no-report']), ...executor]);
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(readdirSync(join(other, 'cells')).sort(), VARIANTS.map((v) => `s0~fine_tuned~${v}~projector+llm`).sort());
  assert.deepEqual(comparableResults(join(other, 'results.json')), comparableResults(join(out, 'results.json')));
  assert.deepEqual(await readSamples(join(other, 'samples.parquet')), await readSamples(join(out, 'samples.parquet')));
  assert.equal(readFileSync(join(other, 'results.csv'), 'utf8'), readFileSync(join(out, 'results.csv'), 'utf8'));
  return other;
}

test('a sweep run by two local workers gives the numbers of one process: each grid point is a cell', async () => {
  await assertSameSweep('workers', ['--workers', '2']);
});

test('a sweep through Slurm (--executor slurm --wait, 2 array tasks) gives the numbers and the grid tables of one process', {
  skip: slurmSkip(),
}, async () => {
  const other = await assertSameSweep('slurm', ['--executor', 'slurm', '--jobs', '2', '--wait'], true);
  const section = (dir: string, title: string) => readFileSync(join(dir, 'report.md'), 'utf8').split(`### ${title}\n\n`)[1]!.split('\n\n')[0];
  for (const title of ['Best grid point at matched forgetting', 'Pareto front of the grid points']) {
    assert.equal(section(other, title), section(out, title), title);
  }
});
