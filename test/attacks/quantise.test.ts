import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad, scope, tensor, type Module } from '../../src/torch/index.ts';
import { INT8_LEVELS, quantiseAttack, quantiseRows, quantiseWeights } from '../../src/attacks/quantise.ts';
import type { PersonRecord, ProtocolQuestion } from '../../src/data/records.ts';
import { disposeDelta, PARTS, scoreAnswers, type PulseModel } from '../../src/model/model.ts';
import { QUESTIONS, tinyModel } from '../model/helpers.ts';
import { StandInModel } from '../model/stand-in.ts';
import { FIXTURES, tinyLlava } from '../llava/helpers.ts';
import { loadLlava } from '../../src/model/llava/index.ts';
import { attackContext, weights } from './context.ts';

test('int8 per-row rounding, worked by hand (round half to even, as torch.round)', () => {
  // row 0: max|W| = 127 -> scale 1: 127, −63.5 -> −64 (even), 0.25 -> 0, 2.5 -> 2 (even)
  // row 1: max|W| = 254 -> scale 2: −254/2 = −127, 3/2 = 1.5 -> 2 -> 4, 1/2 = 0.5 -> 0 -> 0, −5/2 = −2.5 -> −2 -> −4
  // row 2: all zero -> scale 0: stays zero
  // row 3: max|W| = 0.5 -> scale 0.5/127: 0.5 stays (the row's largest magnitude is exact), 0.25 = 63.5 steps -> 64 steps
  const w = Float32Array.from([127, -63.5, 0.25, 2.5, -254, 3, 1, -5, 0, 0, 0, 0, 0.5, 0.25, 0, -0.5]);
  const q = quantiseRows(w, 4);
  const step = 0.5 / 127;
  assert.deepEqual(Array.from(q.subarray(0, 12)), [127, -64, 0, 2, -254, 4, 0, -4, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(q.subarray(12)), [0.5, Math.fround(64 * step), 0, -0.5]);
  assert.throws(() => quantiseRows(w, 3), /cannot split 16 values into 3 equal rows/);
});

/**
 * Moves every weight matrix entry by 0.45 of its row's quantisation step in the direction that raises the NLL of
 * each question's right option (one signed gradient step, an "unlearning" smaller than half a step), except each
 * row's largest magnitude, which fixes the row's scale. On a model already on the int8 grid, rounding undoes it.
 */
async function nudgeUphill(model: PulseModel & Module, questions: readonly ProtocolQuestion[]): Promise<void> {
  const params = model.trainableParameters(PARTS);
  const batch = await model.encode(questions.map((q) => ({ image: q.image, prompt: q.question, answer: q.options['ABCD'.indexOf(q.answer)]! })));
  scope(() => model.backward(model.answerLogProbs(batch).sum.sum().neg()));
  batch.dispose();
  noGrad(() => {
    for (const p of model.parameters()) {
      if (p.shape.length < 2) continue;
      const [w, g] = [p.toFloat32Array(), p.grad!.toFloat32Array()];
      const width = w.length / p.shape[0]!;
      for (let r = 0; r < p.shape[0]!; r++) {
        const row = w.subarray(r * width, (r + 1) * width);
        const max = Math.max(...row.map(Math.abs));
        row.forEach((v, j) => { if (Math.abs(v) < max) row[j] = v + 0.45 * (max / INT8_LEVELS) * Math.sign(g[r * width + j]!); });
      }
      const nudged = tensor(w, [...p.shape]);
      p.copy_(nudged);
      nudged.dispose();
    }
  });
  for (const p of params) p.zeroGrad();
  model.freeze();
}

const asked: ProtocolQuestion[] = QUESTIONS.map((q) => ({ ...q, modality: q.image ? 'multimodal' : 'text' }));
const person = (id: string, questions: ProtocolQuestion[]): PersonRecord => ({ id, name: id, questions, training: [], generation: [], cloze: [] });

test('known answer: a model moved by less than half a quantisation step from the int8 grid answers exactly as before once rounded', async () => {
  const model = tinyModel(4);
  disposeDelta(quantiseWeights(model)); // the "before unlearning" model: every weight matrix on the int8 grid
  const onGrid = await scoreAnswers(model, asked, 'likelihood');
  await nudgeUphill(model, asked);
  const nudged = await scoreAnswers(model, asked, 'likelihood');
  const rightOption = (s: typeof onGrid) => s.predictions.reduce((sum, p, i) => sum + p.scores['ABCD'.indexOf(asked[i]!.answer)]!, 0);
  assert.ok(rightOption(nudged) < rightOption(onGrid) - 1e-3, `the nudge lowered the right options' log-likelihood: ${rightOption(onGrid)} -> ${rightOption(nudged)}`);
  const unlearned = weights(model);

  const context = attackContext(model, { unlearn: [person('u', asked.slice(0, 2))], retain: [person('r', asked.slice(2))] }, { batchSize: 2 });
  const scores = await quantiseAttack.run(context);
  assert.deepEqual(Object.keys(scores), ['unlearn_before', 'unlearn_after', 'retain_before', 'retain_after']);
  // accuracy in % by modality: questions 0-1 are text-only, 2-3 multimodal
  const percent = (correct: boolean[]) => (100 * correct.filter(Boolean).length) / correct.length;
  assert.deepEqual(scores.unlearn_before, { overall: percent(nudged.correct.slice(0, 2)), multimodal: null, text_only: percent(nudged.correct.slice(0, 2)) });
  assert.deepEqual(scores.unlearn_after, { overall: percent(onGrid.correct.slice(0, 2)), multimodal: null, text_only: percent(onGrid.correct.slice(0, 2)) });
  assert.deepEqual(scores.retain_after, { overall: percent(onGrid.correct.slice(2)), multimodal: percent(onGrid.correct.slice(2)), text_only: null });
  assert.deepEqual(weights(model), unlearned, 'the attack put back every weight exactly');

  // the rounded model's answers are the grid model's, to the last bit of every option's score
  const originals = quantiseWeights(model);
  assert.deepEqual((await scoreAnswers(model, asked, 'likelihood')).predictions, onGrid.predictions);
  model.applyDelta(originals);
  disposeDelta(originals);
  assert.deepEqual(weights(model), unlearned);
  model.dispose();
});

/** The parameters the seam gives as the parts' (LLaVA's lm_head is in no part: a full update leaves it too). */
function partParameterNames(model: PulseModel): Set<string> {
  const delta = model.parameterDelta(PARTS);
  const names = new Set(delta.entries.map((e) => (e.kind === 'set' ? e.name : '')));
  disposeDelta(delta);
  return names;
}

test('quantiseWeights rounds every weight matrix of the parts, leaves 1-D tensors, and its originals restore the stand-in and a tiny LLaVA exactly', async () => {
  const face = { kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected/face.png')), source: 'face.png' };
  for (const model of [new StandInModel(2), await tinyLlava()] as (PulseModel & Module)[]) {
    const before = new Map(model.namedParameters().map(([name, p]) => [name, p.toFloat32Array()]));
    const inParts = partParameterNames(model);
    const originals = quantiseWeights(model);
    let rounded = 0;
    for (const [name, p] of model.namedParameters()) {
      const was = before.get(name)!;
      const round = p.shape.length >= 2 && inParts.has(name);
      rounded += round ? 1 : 0;
      assert.deepEqual(p.toFloat32Array(), round ? quantiseRows(was, p.shape[0]!) : was, `${model.info.kind} ${name}`);
    }
    assert.ok(rounded > 3 && originals.entries.length === rounded, `${model.info.kind}: ${rounded} matrices rounded`);
    model.applyDelta(originals);
    disposeDelta(originals);
    for (const [name, p] of model.namedParameters()) assert.deepEqual(p.toFloat32Array(), before.get(name)!, `${model.info.kind} ${name} restored`);
    // and it still scores (LLaVA: one multimodal answer)
    const batch = await model.encode([{ image: face, prompt: 'Who is this?', answer: 'Ann Lee' }]);
    assert.ok(Number.isFinite(noGrad(() => scope(() => model.answerLogProbs(batch).sum.item()))));
    batch.dispose();
    model.dispose();
  }
});

test('a bfloat16 LLaVA: rounded within half a step (and bfloat16 precision), put back bit for bit', async () => {
  const model = await loadLlava({
    kind: 'llava', path: join(FIXTURES, 'tiny-hub'), device: 'cpu', dtype: 'bfloat16', micro_batch: 4, scoring: 'letter', gradient_checkpointing: false,
  });
  const inParts = partParameterNames(model);
  const before = new Map(model.namedParameters().map(([name, p]) => [name, p.toFloat32Array()]));
  const originals = quantiseWeights(model);
  let changed = 0;
  for (const [name, p] of model.namedParameters()) {
    if (!(p.shape.length >= 2 && inParts.has(name))) continue;
    const [was, now] = [before.get(name)!, p.toFloat32Array()];
    const width = was.length / p.shape[0]!;
    for (let i = 0; i < was.length; i++) {
      const step = Math.max(...was.subarray(i - (i % width), i - (i % width) + width).map(Math.abs)) / INT8_LEVELS;
      // |W_q − W| <= step/2, then stored in bfloat16 (8 significant bits: relative error <= 2^-8)
      assert.ok(Math.abs(now[i]! - was[i]!) <= step / 2 + Math.abs(now[i]!) * 2 ** -8 + 1e-12, `${name}[${i}]: ${was[i]} -> ${now[i]}`);
      if (now[i] !== was[i]) changed++;
    }
    if (changed > 0) break; // one matrix checked in full is enough
  }
  assert.ok(changed > 0, 'rounding changed some weight');
  model.applyDelta(originals);
  disposeDelta(originals);
  for (const [name, p] of model.namedParameters()) assert.deepEqual(p.toFloat32Array(), before.get(name)!, `${name} restored`);
  model.dispose();
});
