import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { crossEntropy, noGrad, scope, type Tensor } from '../../src/torch/index.ts';
import { loadSafetensors } from '../../src/torch/safetensors.ts';
import { clipPixels } from '../../src/model/llava/preprocess.ts';
import { letterQuestion, userTurn } from '../../src/model/llava/prompt.ts';
import type { LlavaModel } from '../../src/model/llava/index.ts';
import { FIXTURES, cases, caseInputs, fixture, maxAbsDiff, tinyLlava } from './helpers.ts';

/**
 * pulse's LLaVA against Hugging Face transformers (float32, eager attention) on the tiny random
 * model of test/fixtures/llava: the same ids, pixels, logits, loss and LoRA gradients.
 */
const hub = await tinyLlava('tiny-hub');
const newer = await tinyLlava('tiny-new');

test('the Hub layout and the newer transformers layout load to the same tensors', () => {
  const a = hub.stateDict();
  const b = newer.stateDict();
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, t] of a) assert.equal(maxAbsDiff(t, b.get(name)!), 0, name);
  assert.equal(hub.parameterCount(), cases.model.parameters);
});

for (const name of ['image', 'text', 'image_answer', 'batch']) {
  test(`logits equal transformers' for the ${name} case, from both layouts (max abs diff <= 1e-4)`, (t) => scope(() => {
    const inputs = caseInputs(name);
    const padding = inputs.mask.eq(0).unsqueeze(-1);
    const outputs = [hub, newer].map((model) => noGrad(() => model.logits(model.hidden(inputs))));
    const diff = outputs[0]!.sub(fixture(`${name}.logits`)).abs().maskedFill(padding, 0).max().item();
    t.diagnostic(`max abs diff ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
    assert.equal(maxAbsDiff(outputs[0]!, outputs[1]!), 0, 'the two layouts differ');
  }));
}

/** transformers' labels= loss: logits[:, :-1] predict labels[:, 1:], mean cross entropy over the labelled targets. */
function shiftedLoss(logits: Tensor, labels: Tensor): Tensor {
  const t = logits.size(1);
  return crossEntropy(logits.narrow(1, 0, t - 1).reshape(-1, logits.size(2)), labels.narrow(1, 1, t - 1).reshape(-1));
}

test('the loss equals transformers\' labels= loss for the text, image+answer and batch cases', () => scope(() => {
  for (const name of ['text', 'image_answer', 'batch']) {
    const loss = noGrad(() => shiftedLoss(hub.logits(hub.hidden(caseInputs(name))), fixture(`${name}.labels`))).item();
    assert.ok(Math.abs(loss - cases.cases[name].loss) <= 1e-5, `${name}: ${loss} vs ${cases.cases[name].loss}`);
  }
}));

test('the prompt format and the tokenizer give the processor\'s ids, <image> expanded to 4 positions', async () => {
  const q = { question: 'Who is this person?', options: ['Ann', 'Bob', 'Cy', 'Di'] };
  const prompt = userTurn(letterQuestion(q), true);
  assert.equal(prompt, cases.cases.image.prompts[0]);
  const batch = await hub.encode([{ prompt: letterQuestion(q), answer: '', image: { kind: 'encoded', bytes: await readFile(join(FIXTURES, 'expected/face.png')), source: 'face.png' } }]);
  try {
    const piece = batch.pieces[0] as unknown as { inputs: { ids: Tensor; pixels: Tensor } };
    assert.deepEqual(piece.inputs.ids.toArray(), cases.cases.image.input_ids[0]);
    assert.ok(maxAbsDiff(piece.inputs.pixels, fixture('image.pixel_values')) <= 1e-6);
  } finally {
    batch.dispose();
  }
  const text = cases.tokenizer.examples as { text: string; ids: number[] }[];
  for (const e of text) assert.deepEqual(hub.tokenizer.encode(e.text, true), e.ids, e.text);
});

test('image preprocessing of face.png equals the processor\'s pixel_values', async () => {
  const pixels = await clipPixels(await readFile(join(FIXTURES, 'expected/face.png')), hub.preprocessor);
  const reference = fixture('image.pixel_values').toFloat32Array();
  let diff = 0;
  for (let i = 0; i < pixels.length; i++) diff = Math.max(diff, Math.abs(pixels[i]! - reference[i]!));
  assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
});

const LM_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** Attaches rank-4 adapters to the language model's seven projections and sets them to PEFT's values. */
async function withPeftAdapters(model: LlavaModel): Promise<void> {
  const { tensors } = await loadSafetensors(join(FIXTURES, 'expected/lora.safetensors'));
  const count = model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: LM_LAYERS });
  const modules = cases.lora.modules as Record<string, { a: string; b: string }>;
  assert.equal(count, Object.keys(modules).length);
  const layers = new Map(model.loraLayers(['llm']));
  noGrad(() => {
    for (const [name, m] of Object.entries(modules)) {
      const adapter = layers.get(name)?.adapter;
      assert.ok(adapter, `no adapter on ${name}`);
      adapter.a.copy_(tensors.get(m.a)!);
      adapter.b.copy_(tensors.get(m.b)!);
    }
  });
}

test('LoRA gradients equal PEFT\'s (text case, rank 4, the seven Llama projections, CLIP untouched)', async () => {
  const model = await tinyLlava('tiny-hub');
  await withPeftAdapters(model);
  const { tensors: grads } = await loadSafetensors(join(FIXTURES, 'expected/lora-grads.safetensors'));
  const params = model.trainableParameters(['llm']);
  scope(() => {
    const loss = shiftedLoss(model.logits(model.hidden(caseInputs('text'))), fixture('text.labels'));
    assert.ok(Math.abs(loss.item() - cases.lora.loss_with_lora) <= 1e-5);
    model.backward(loss);
  });
  assert.equal(params.length, 28);
  const layers = new Map(model.loraLayers(['llm']));
  for (const [name, m] of Object.entries(cases.lora.modules as Record<string, { a: string; b: string }>)) {
    const adapter = layers.get(name)!.adapter!;
    assert.ok(maxAbsDiff(adapter.a.grad!, grads.get(m.a)!) <= 1e-5, `${name} A`);
    assert.ok(maxAbsDiff(adapter.b.grad!, grads.get(m.b)!) <= 1e-5, `${name} B`);
  }
  model.dispose();
});

test('merged LoRA gives the logits of attached LoRA', async () => {
  const model = await tinyLlava('tiny-hub');
  await withPeftAdapters(model);
  const inputs = caseInputs('image_answer');
  const attached = noGrad(() => model.logits(model.hidden(inputs)));
  const delta = model.mergeLora();
  assert.equal(delta.entries.length, 14);
  const merged = noGrad(() => model.logits(model.hidden(inputs)));
  // float32: x(W + sBA) and xW + s(xA)B round differently; the logits are of order 10
  assert.ok(maxAbsDiff(attached, merged) <= 1e-4, `max abs diff ${maxAbsDiff(attached, merged)}`);
  await model.reset();
  assert.equal(maxAbsDiff(noGrad(() => model.logits(model.hidden(inputs))), fixture('image_answer.logits')) <= 1e-4, true);
  model.dispose();
});

test('gradient checkpointing gives the gradients of a plain backward (adapters and a fully trained projector)', async () => {
  const gradients = async (checkpointing: boolean): Promise<Tensor[]> => {
    const model = await tinyLlava('tiny-hub', { checkpointing });
    await withPeftAdapters(model);
    const params = model.trainableParameters(['projector', 'llm']);
    scope(() => model.backward(shiftedLoss(model.logits(model.hidden(caseInputs('batch'))), fixture('batch.labels'))));
    return params.map((p) => p.grad!);
  };
  const plain = await gradients(false);
  const recomputed = await gradients(true);
  assert.equal(plain.length, recomputed.length);
  assert.equal(plain.length, 28 + 4);
  plain.forEach((g, i) => assert.ok(maxAbsDiff(g, recomputed[i]!) <= 1e-6, `parameter ${i}: ${maxAbsDiff(g, recomputed[i]!)}`));
});
