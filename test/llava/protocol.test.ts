import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadDatasetFiles } from '../../src/data/protocol-data.ts';
import { ensureWorldFiles, WORLD_FILES } from '../../src/data/world-files.ts';
import { Results } from '../../src/protocol/results-schema.ts';
import { FIXTURES } from './helpers.ts';

test('the quick protocol runs end to end on the tiny LLaVA, reading the datasets through data: {mllmu, mmbench}', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-llava-run-'));
  const world = join(dir, 'world');
  await ensureWorldFiles(world, 0);
  const data = { mllmu: join(world, 'MLLMU-Bench'), mmbench: join(world, WORLD_FILES.benchmark) };
  const config = resolveConfig({
    preset: 'quick',
    overrides: {
      threads: 1, data, model: { kind: 'llava', path: resolve(FIXTURES, 'tiny-hub') },
      fine_tune: { steps: 6, replay: 0, batch_size: 8 }, eval: { general_items: 12, batch_size: 16 },
    },
  });
  const out = join(dir, 'run');
  const { results } = await runProtocol({ config, outDir: out, preset: 'quick', cacheDir: join(dir, '.cache'), loadData: (c) => loadDatasetFiles(c.data!) });
  Results.parse(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
  assert.equal(results.run.model.kind, 'llava');
  assert.equal(results.run.scoring, 'letter');
  assert.deepEqual(results.scenarios.map((s) => [s.scenario, s.status]), [['fine_tuned', 'complete'], ['pre_trained', 'complete'], ['sustainability', 'complete']]);
  for (const s of results.scenarios) {
    for (const m of s.methods) {
      assert.equal(m.requests.length, s.splits.requests.length);
      for (const r of m.requests) assert.ok(Number.isFinite(r.loss.first) && Number.isFinite(r.loss.last), `${s.scenario} ${m.method}`);
    }
  }
  const again = await runProtocol({ config, outDir: out, preset: 'quick', cacheDir: join(dir, '.cache'), loadData: (c) => loadDatasetFiles(c.data!) });
  assert.equal(again.alreadyFinished, true);
});

test('real datasets need fine_tune.replay 0: there is no pre-training corpus to replay', () => {
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { data: { mllmu: 'm', mmbench: 'x.tsv' } } }), /fine_tune\.replay must be 0 with data:/);
});
