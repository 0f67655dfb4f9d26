import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/protocol/config.ts';
import { planRun } from '../../src/protocol/plan.ts';
import { estimateStudy } from '../../src/protocol/estimate.ts';
import { stepTimeFor } from '../../src/protocol/estimate-report.ts';

const sizes = { examplesPerPerson: 7, questionsPerPerson: 10, generalItems: 100, candidates: 153 };

test('a cell\'s estimate: training steps from the request\'s examples, a retain batch and a reference forward where the method has them, scoring passes', () => {
  const config = resolveConfig({ preset: 'quick', overrides: { scenarios: ['fine_tuned'], methods: ['ga', 'ga_klr'], ablation: null } });
  const e = estimateStudy(config, planRun(config), { ms: 1000, rows: 1, source: 'test' }, sizes, 2);
  const [ga, klr] = e.cells;
  // 6 people x 7 examples = 42 in one request, batches of 8: 6 steps of 8 rows at 1 s a row
  assert.equal(ga!.trainingSteps, 6);
  // one scoring point: (10 people x 10 questions + 40 general) questions at a third of a second
  assert.equal(ga!.seconds, 48 + 140 / 3);
  // GA+KLR: a retain batch (8 rows more) and the reference's forward (a third of 8 rows)
  assert.ok(Math.abs(klr!.seconds - (6 * 8 * (2 + 1 / 3) + 140 / 3)) < 1e-9);
  assert.ok(e.wallSeconds < e.gpuSeconds, 'two GPUs run the two cells side by side');
});

test('the step time: the 7B H200 measurement, scaled for 13B and checkpointing and saying so; a model without one needs --step-ms', () => {
  const llava = (path: string, checkpointing: boolean) => resolveConfig({
    preset: 'paper', overrides: { model: { kind: 'llava', path, gradient_checkpointing: checkpointing }, data: { mllmu: 'x', mmbench: 'y' }, fine_tune: { replay: 0 } },
  });
  assert.equal(stepTimeFor(llava('models/llava-1.5-7b-hf', false), null).ms, 320.7);
  const big = stepTimeFor(llava('models/llava-1.5-13b-hf', true), null);
  assert.ok(Math.abs(big.ms - 320.7 * (13.35 / 7.06) * (4 / 3)) < 1e-9);
  assert.match(big.source, /scaled, not measured/);
  assert.throws(() => stepTimeFor(resolveConfig({ preset: 'quick' }), null), /no measured step time .* --step-ms/);
});

test('a sweep\'s plan: each grid point is a cell, estimated with its own settings and its registry method\'s costs', () => {
  const config = resolveConfig({ preset: 'quick', overrides: {
    scenarios: ['fine_tuned'], methods: ['ga', 'ga_klr'], ablation: null, grid: { 'method_settings.ga_klr.epochs': [1, 2] },
  } });
  const e = estimateStudy(config, planRun(config), { ms: 1000, rows: 1, source: 'test' }, sizes, 1);
  assert.deepEqual(e.cells.map((c) => c.cell.key), ['s0~fine_tuned~ga~projector+llm', 's0~fine_tuned~ga_klr@epochs=1~projector+llm',
    's0~fine_tuned~ga_klr@epochs=2~projector+llm']);
  const [, one, two] = e.cells;
  // as above: 6 steps of 8 rows with a retain batch and a reference forward per epoch; one scoring point
  assert.equal(one!.trainingSteps, 6);
  assert.equal(two!.trainingSteps, 12);
  assert.ok(Math.abs(two!.seconds - (12 * 8 * (2 + 1 / 3) + 140 / 3)) < 1e-9);
});
