import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/protocol/config.ts';
import { PulseError } from '../../src/errors.ts';

test('the shipped Qwen configs are valid: CUDA, bfloat16, LoRA r16 on the seven projections, the merger in full, real data', () => {
  for (const [file, kind, checkpointing] of [['qwen2.5-vl-7b', 'qwen2_5_vl', true], ['qwen2.5-vl-3b', 'qwen2_5_vl', false], ['qwen2-vl-7b', 'qwen2_vl', true]] as const) {
    const config = resolveConfig({ file: `configs/${file}.yaml` });
    assert.deepEqual([config.model.kind, config.model.device, config.model.dtype, config.model.gradient_checkpointing], [kind, 'cuda', 'bfloat16', checkpointing], file);
    for (const lora of [config.fine_tune.lora, config.unlearn.lora, config.scenario_settings.pre_trained!.lora!]) {
      assert.deepEqual([lora?.rank, lora?.layers], [16, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']], file);
    }
    assert.equal(config.update_target, 'projector+llm');
    assert.equal(config.fine_tune.replay, 0);
  }
});

test('a model section whose path does not exist, or is no model and names no kind, is one line', () => {
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { model: { path: 'no/such/folder' } } }),
    (e: unknown) => e instanceof PulseError && /^model\.path: \S*no\/such\/folder does not exist$/.test(e.message));
  const empty = mkdtempSync(join(tmpdir(), 'pulse-nomodel-'));
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { model: { path: empty } } }),
    (e: unknown) => e instanceof PulseError && /^model\.path: .*: no Hugging Face folder .* and no model\.kind says what it is$/.test(e.message));
  rmSync(empty, { recursive: true });
});
