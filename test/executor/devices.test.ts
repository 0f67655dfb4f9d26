import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../../src/protocol/config.ts';
import { modelSpecOn } from '../../src/protocol/join.ts';
import { pulseCli } from '../protocol/fixture.ts';

// --devices gives each worker its own model.device: the Hugging Face kinds (LLaVA, Qwen2-VL, Qwen2.5-VL) take one,
// the embedded model runs on the CPU and takes none. No model is loaded here: only the config's model section.
const configOf = (model: Record<string, unknown>) => resolveConfig({ preset: 'quick', overrides: { model } });
const HF_FOLDERS = { llava: 'test/fixtures/llava/tiny-hub', qwen2_vl: 'test/fixtures/qwen/qwen2-vl-hub', qwen2_5_vl: 'test/fixtures/qwen/qwen2.5-vl-hub' };

test('a worker device: LLaVA, Qwen2-VL and Qwen2.5-VL take cuda devices alike; a device string they refuse is named', () => {
  for (const [kind, folder] of Object.entries(HF_FOLDERS)) {
    const config = configOf({ path: resolve(folder) });
    assert.equal(config.model.kind, kind);
    for (const device of ['cuda:1', 'cuda', 'cpu']) assert.deepEqual(modelSpecOn(config, device), { ...config.model, device }, `${kind} on ${device}`);
    assert.equal(modelSpecOn(config, undefined), config.model);
    assert.throws(() => modelSpecOn(config, 'gpu0'), { message: 'device gpu0: model.device: expected cpu, cuda or cuda:N' });
  }
});

test('pulse run --devices on the embedded model: one line, exit 2, and no run folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-devices-'));
  const out = join(dir, 'run');
  const run = await pulseCli(dir, ['run', '--preset', 'quick', '--devices', 'cuda:0,cuda:1', '--out', out]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /\npulse: device cuda:0: models of kind embedded take no device \(they run on the CPU\)\n$/);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(!existsSync(out));
});
