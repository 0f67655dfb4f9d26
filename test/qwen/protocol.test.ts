import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadDatasetFiles } from '../../src/data/protocol-data.ts';
import { ensureWorldFiles, WORLD_FILES } from '../../src/data/world-files.ts';
import { Results } from '../../src/protocol/results-schema.ts';
import { METHODS } from '../../src/unlearn/registry.ts';
import { ATTACKS } from '../../src/attacks/registry.ts';
import { FIXTURES } from './helpers.ts';

test('the quick protocol runs end to end on the tiny Qwen2.5-VL (kind from its folder) with every method and every attack', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-qwen-run-'));
  try {
    const world = join(dir, 'world');
    await ensureWorldFiles(world, 0);
    const config = resolveConfig({
      preset: 'quick',
      overrides: {
        threads: 1, data: { mllmu: join(world, 'MLLMU-Bench'), mmbench: join(world, WORLD_FILES.benchmark) },
        // no kind: config.json's model_type says qwen2_5_vl
        model: { path: resolve(FIXTURES, 'qwen2.5-vl-hub') },
        methods: [...METHODS.keys()], attacks: ['all'], scenarios: ['fine_tuned'],
        fine_tune: { people: 4, steps: 2, replay: 0, batch_size: 4 }, fine_tuned: { unlearn: 2, retain: 2 }, sustainability: { requests: 2 },
        unlearn: { batch_size: 4 }, eval: { general_items: 4, batch_size: 8 },
        attack_settings: { relearn: { steps: 2, batch_size: 4 }, open_ended: { generation_tokens: 3, cloze_tokens: 2 } },
        ablation: null,
      },
    });
    assert.equal(config.model.kind, 'qwen2_5_vl');
    const out = join(dir, 'run');
    const { results } = await runProtocol({ config, outDir: out, preset: 'quick', cacheDir: join(dir, '.cache'), loadData: (c) => loadDatasetFiles(c.data!) });
    Results.parse(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    assert.equal(results.run.model.kind, 'qwen2_5_vl');
    assert.deepEqual(results.scenarios.map((s) => [s.scenario, s.status]), [['fine_tuned', 'complete']]);
    for (const s of results.scenarios) {
      assert.deepEqual(s.methods.map((m) => m.method).sort(), [...METHODS.keys()].sort());
      for (const m of s.methods) {
        assert.equal(m.requests.length, s.splits.requests.length);
        for (const r of m.requests) {
          assert.ok(Number.isFinite(r.loss.first) && Number.isFinite(r.loss.last), `${s.scenario} ${m.method}`);
          assert.deepEqual(Object.keys(r.attacks ?? {}).sort(), [...ATTACKS.keys()].sort(), `${s.scenario} ${m.method} attacks`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
