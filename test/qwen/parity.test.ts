import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, noGrad, scope, type Tensor } from '../../src/torch/index.ts';
import { ropePositions } from '../../src/model/qwen2-vl/mrope.ts';
import type { QwenVlModel } from '../../src/model/qwen2-vl/index.ts';
import { FOLDERS, caseInputs, chunks, expected, fixture, maxAbsDiff, tinyQwen } from './helpers.ts';

/**
 * pulse's Qwen2.5-VL and Qwen2-VL against transformers (float32, eager attention) on the tiny
 * random models of test/fixtures/qwen: the same logits (images of several sizes and aspect
 * ratios, resized up and down, several attention windows; right-padded rows), M-RoPE positions,
 * vision features, loss, and LoRA gradients (PEFT) with gradients through the whole tower.
 */
const models = new Map<string, QwenVlModel>();
for (const folder of Object.keys(FOLDERS)) models.set(folder, await tinyQwen(folder));

/** transformers' labels= loss: logits[:, :-1] predict labels[:, 1:], mean cross entropy over the labelled targets. */
function shiftedLoss(logits: Tensor, labels: Tensor): Tensor {
  const t = logits.size(1);
  return crossEntropy(logits.narrow(1, 0, t - 1).reshape(-1, logits.size(2)), labels.narrow(1, 1, t - 1).reshape(-1));
}

const pad = (m: QwenVlModel) => m.tokenizer.special.imagePad;

test('the Hub layout (bfloat16, sharded, tied head absent) and the transformers 5 layout (float32, one file) load to the same tensors', () => {
  const a = models.get('qwen2.5-vl-hub')!.stateDict();
  const b = models.get('qwen2.5-vl-new')!.stateDict();
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, t] of a) assert.equal(maxAbsDiff(t, b.get(name)!), 0, name);
});

for (const [folder, family] of Object.entries(FOLDERS)) {
  test(`${folder}: logits equal transformers' for one image and for four right-padded rows (max abs diff <= 1e-4)`, async (t) => {
    const e = await expected(family);
    const model = models.get(folder)!;
    assert.equal(model.parameterCount(), e.info.model.parameters);
    for (const name of ['image', 'batch']) {
      scope(() => {
        const inputs = caseInputs(e, name, pad(model));
        const logits = noGrad(() => model.logits(model.hidden(inputs)));
        const diff = logits.sub(fixture(e, `${name}.logits`)).abs().maskedFill(inputs.mask.eq(0).unsqueeze(-1), 0).max().item();
        t.diagnostic(`${name}: max abs diff ${diff.toExponential(2)}`);
        assert.ok(diff <= 1e-4, `${name}: max abs diff ${diff}`);
      });
    }
  });
}

for (const family of ['qwen2.5-vl', 'qwen2-vl'] as const) {
  const folder = `${family}-hub`;

  test(`${family}: M-RoPE positions equal get_rope_index's in every row of every case`, async () => {
    const e = await expected(family);
    const model = models.get(folder)!;
    for (const name of ['image', 'batch', 'train']) {
      const ids = fixture(e, `${name}.input_ids`);
      const [b, length] = ids.shape as [number, number];
      const rows = chunks(ids.toArray(), length);
      const lengths = fixture(e, `${name}.attention_mask`).sum(1).toArray();
      const theirs = chunks(fixture(e, `${name}.position_ids`).toArray(), length);
      let grids = caseInputs(e, name, pad(model)).grids;
      rows.forEach((row, r) => {
        const real = row.slice(0, lengths[r]);
        const own = real.includes(pad(model)) ? [grids[0]!] : [];
        grids = grids.slice(own.length);
        const mine = ropePositions(real, 0, pad(model), own, 2);
        for (let axis = 0; axis < 3; axis++) assert.deepEqual(mine[axis], theirs[axis * b + r]!.slice(0, lengths[r]), `${name} row ${r} axis ${axis}`);
      });
    }
  });

  test(`${family}: the vision tower and merger alone give transformers' image features`, async () => {
    const e = await expected(family);
    const model = models.get(folder)!;
    scope(() => {
      const inputs = caseInputs(e, 'batch', pad(model));
      const features = noGrad(() => model.imageFeatures(inputs.pixels!, inputs.grids));
      assert.ok(maxAbsDiff(features, fixture(e, 'batch.image_features')) <= 1e-5, `max abs diff ${maxAbsDiff(features, fixture(e, 'batch.image_features'))}`);
    });
  });

  test(`${family}: the loss equals transformers' labels= loss; LoRA and full-update gradients equal PEFT's (<= 1e-5)`, async () => {
    const e = await expected(family);
    const model = await tinyQwen(folder);
    const inputs = caseInputs(e, 'train', pad(model));
    const loss = noGrad(() => scope(() => shiftedLoss(model.logits(model.hidden(inputs)), fixture(e, 'train.labels')).item()));
    assert.ok(Math.abs(loss - e.info.cases.train.loss) <= 1e-5, `loss ${loss} vs ${e.info.cases.train.loss}`);

    const modules = e.info.lora.modules as Record<string, { a: string; b: string }>;
    const count = model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    assert.equal(count, Object.keys(modules).length);
    const layers = new Map(model.loraLayers(['llm']));
    noGrad(() => {
      for (const [name, m] of Object.entries(modules)) {
        layers.get(name)!.adapter!.a.copy_(fixture(e, m.a));
        layers.get(name)!.adapter!.b.copy_(fixture(e, m.b));
      }
    });
    const params = model.trainableParameters(['llm']);
    assert.equal(params.length, 2 * count);
    const state = model.stateDict();
    for (const name of e.info.lora.full as string[]) state.get(name)!.setRequiresGrad(true);
    scope(() => {
      const withLora = shiftedLoss(model.logits(model.hidden(inputs)), fixture(e, 'train.labels'));
      assert.ok(Math.abs(withLora.item() - e.info.lora.loss_with_lora) <= 1e-5, `loss with LoRA ${withLora.item()} vs ${e.info.lora.loss_with_lora}`);
      model.backward(withLora);
    });
    const close = (mine: Tensor, name: string) => {
      const diff = maxAbsDiff(mine, fixture(e, `grad.${name}`));
      assert.ok(diff <= 1e-5, `${name}: max abs diff ${diff}`);
    };
    for (const [name, m] of Object.entries(modules)) {
      close(layers.get(name)!.adapter!.a.grad!, m.a);
      close(layers.get(name)!.adapter!.b.grad!, m.b);
    }
    for (const name of e.info.lora.full as string[]) close(state.get(name)!.grad!, name);
    model.dispose();
  });
}
