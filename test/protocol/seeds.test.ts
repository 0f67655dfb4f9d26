import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { readSamples } from '../../src/protocol/samples-file.ts';
import { tInterval } from '../../src/metrics/stats.ts';
import type { Results } from '../../src/protocol/results-schema.ts';
import { comparableResults, protocolFixture, pulseCli } from './fixture.ts';

// Two seeds, two scenarios, scoring after every epoch, the retain oracle: every new record in a few seconds.
const fixture = await protocolFixture({
  seeds: [0, 1], scenarios: ['fine_tuned', 'sustainability'], methods: ['ga', 'npo'],
  unlearn: { epochs: 2 }, eval: { general_items: 20, every: 'epoch', oracle: true, bootstrap: 50 },
});
const config = resolveConfig({ preset: 'quick', file: fixture.config });
const pulse = (args: string[], killWhen?: RegExp) => pulseCli(fixture.dir, args, killWhen);
const reference = join(fixture.dir, 'runs', 'reference');
const { results } = await runProtocol({
  config, outDir: reference, preset: 'quick', cacheDir: join(fixture.dir, '.cache', 'pulse'), loadData: (c) => loadProtocolData(c.world),
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    db.closeSync();
  }
}

/** Evaluation points of a run: each scenario's start model and oracle, and every scoring point of every request. */
function evaluationPoints(r: Results): number {
  return r.scenarios.reduce((n, s) => n + 1 + (s.oracle ? 1 : 0)
    + s.methods.reduce((m, e) => m + e.requests.reduce((k, q) => k + q.trajectory.length + 1, 0), 0), 0);
}

test('each seed has its own record, split and requests; the summary holds every seed and their t interval', () => {
  assert.deepEqual(results.scenarios.map((s) => `${s.scenario}/${s.seed}`), ['fine_tuned/0', 'sustainability/0', 'fine_tuned/1', 'sustainability/1']);
  const [a, b] = [results.scenarios[0]!, results.scenarios[2]!];
  assert.notDeepEqual(a.splits, b.splits, 'seeds 0 and 1 split the people differently');
  assert.ok(a.oracle && b.oracle, 'the retain oracle is scored in the fine-tuned scenarios');
  for (const s of results.scenarios) {
    for (const m of s.methods) for (const r of m.requests) assert.equal(r.trajectory.length, 1, 'two epochs: one scoring point inside the request');
    assert.equal(s.before_by_request.length, s.splits.requests.length);
  }
  const cell = results.summary!.cells.find((c) => c.scenario === 'fine_tuned' && c.method === 'npo' && c.metric === 'forgotten_unlearn' && c.modality === 'overall')!;
  assert.deepEqual(cell.per_seed.map((p) => p.seed), [0, 1]);
  const values = [a, b].map((s) => s.methods.find((m) => m.method === 'npo')!.requests[0]!.relative.forgotten_unlearn.overall!);
  assert.deepEqual(cell.per_seed.map((p) => p.value), values);
  assert.deepEqual(cell.across_seeds, tInterval(values));
  for (const p of cell.per_seed) assert.ok(p.bootstrap && p.bootstrap.low <= p.value! + 1e-9 && p.value! <= p.bootstrap.high + 1e-9, 'the bootstrap interval holds its estimate');
  const difference = results.summary!.differences.find((d) => d.a.method === 'ga' && d.b.method === 'npo' && d.a.scenario === 'fine_tuned' && d.metric === 'forgotten_unlearn' && d.modality === 'overall');
  assert.equal(difference?.difference.n, 2, 'GA vs NPO is paired over both seeds');
  const sequence = results.summary!.cells.filter((c) => c.scenario === 'sustainability' && c.method === 'ga' && c.modality === 'overall').map((c) => c.metric);
  for (const m of ['auc_unlearn', 'auc_retain', 'auc_general', 'auc_request_1', 'auc_request_3', 'toward_oracle']) assert.ok(sequence.includes(m), m);
});

test('samples.parquet and results.csv are read back by DuckDB with the expected row counts', async () => {
  const samples = join(reference, 'samples.parquet');
  const perPoint = results.scenarios[0]!.before!.unlearn.n + results.scenarios[0]!.before!.retain.n + results.scenarios[0]!.before!.general.n;
  const [count] = await query(`SELECT count(*)::INT AS n, count(DISTINCT seed)::INT AS seeds FROM read_parquet('${samples}')`);
  assert.deepEqual(count, { n: perPoint * evaluationPoints(results), seeds: 2 }, 'one row per question per evaluation point');
  const [general] = await query(`SELECT count(*)::INT AS n FROM read_parquet('${samples}') WHERE "set" = 'general' AND person IS NOT NULL`);
  assert.equal(general!.n, 0, 'general-benchmark questions have no person');
  const csv = join(reference, 'results.csv');
  const [points] = await query(`SELECT count(*)::INT AS n FROM read_csv_auto('${csv}') WHERE "set" = 'unlearn' AND modality = 'overall'`);
  assert.equal(points!.n, evaluationPoints(results), 'one D_unlearn row per evaluation point');
  const [start] = await query(`SELECT accuracy, relative FROM read_csv_auto('${csv}') WHERE method = 'start' AND seed = 1 AND scenario = 'fine_tuned' AND "set" = 'retain' AND modality = 'overall'`);
  assert.deepEqual(start, { accuracy: results.scenarios[2]!.before!.retain.overall, relative: 100 });
});

test('pulse export rebuilds results.csv from results.json alone', async () => {
  const csv = join(reference, 'results.csv');
  const written = readFileSync(csv, 'utf8');
  rmSync(csv);
  const exported = await pulse(['export', reference]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(readFileSync(csv, 'utf8'), written);
  const missing = await pulse(['export', join(fixture.dir, 'no-such-run')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^pulse: .*no-such-run\/results\.json: no such file \(is this a run folder\?\)\n$/);
});

const comparable = (dir: string) => comparableResults(join(dir, 'results.json'));

test('a run killed (SIGKILL) during the second seed resumes to the same numbers and per-question records', async () => {
  const out = join(fixture.dir, 'runs', 'killed');
  const args = ['run', '--preset', 'quick', '--config', fixture.config, '--out', out, '--no-report'];
  const killed = await pulse(args, /sustainability seed 1 ga \[projector\+llm\] request 1\/3/);
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const resumed = await pulse(args);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming the run/);
  assert.deepEqual(comparable(out), comparable(reference));
  assert.deepEqual(await readSamples(join(out, 'samples.parquet')), await readSamples(join(reference, 'samples.parquet')));
  assert.equal(readFileSync(join(out, 'results.csv'), 'utf8'), readFileSync(join(reference, 'results.csv'), 'utf8'));
  rmSync(out, { recursive: true, force: true });
});

test('stop_at_forgotten ends a request at the first scoring point that reaches the level', async () => {
  const level = 10;
  const stopping = resolveConfig({
    preset: 'quick', file: fixture.config,
    overrides: { seeds: [0], scenarios: ['fine_tuned'], methods: ['ga'], unlearn: { lr: 1e-2, epochs: 4, stop_at_forgotten: level }, eval: { every: 1, oracle: false } },
  });
  const { results: r } = await runProtocol({
    config: stopping, outDir: join(fixture.dir, 'runs', 'stop'), preset: 'quick', cacheDir: join(fixture.dir, '.cache', 'pulse'),
    loadData: (c) => loadProtocolData(c.world),
  });
  const request = r.scenarios[0]!.methods[0]!.requests[0]!;
  assert.ok(request.stopped_early, 'GA at lr 1e-2 forgets 10% within four epochs');
  const before = request.trajectory.map((p) => p.relative.forgotten_unlearn.overall!);
  assert.ok(before.every((f) => f < level), `no earlier scoring point reached ${level}%: ${before}`);
  assert.ok(request.relative.forgotten_unlearn.overall! >= level, 'the request ends where it reached the level');
  assert.equal(request.steps, request.trajectory.length + 1, 'scored every step, stopped at the first that reached it');
});

test('stop_at_forgotten without scoring inside requests is one clear config error', () => {
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { unlearn: { stop_at_forgotten: 50 } } }), /stop_at_forgotten needs scoring inside requests: set eval.every/);
});
