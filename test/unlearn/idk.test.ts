import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, scope } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import { METHODS, getMethod } from '../../src/unlearn/registry.ts';
import { lossAndGradient, unlearnRequest } from '../../src/unlearn/unlearn.ts';
import type { StepInputs } from '../../src/unlearn/method.ts';
import { FORGET, V, asReference, base, fixed, uniform } from './fixed-logits.ts';
import { tinyModel, solidImage } from '../model/helpers.ts';

const RETAIN: Example[] = [{ prompt: 'Where does Ada Stone live?', answer: 'Paris' }]; // 1 + <eos> = 2
// The forget examples with refusals as answers, row for row (as unlearnRequest builds them):
const REFUSED: Example[] = [{ ...FORGET[0]!, answer: 'pilot pilot' }, { ...FORGET[1]!, answer: 'Oslo' }]; // 2 + <eos> = 3; 1 + <eos> = 2
const forget = await uniform.encode(FORGET); // 'pilot' <eos>; 'Oslo Rome' <eos>
const retain = await uniform.encode(RETAIN);
const refusal = await uniform.encode(REFUSED);
const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);

/** θ with logit a on 'pilot', 0 elsewhere: Z = V - 1 + e^a, p(pilot) = e^a/Z, any other token 1/Z. */
const a = 2;
const Z = V - 1 + Math.exp(a);
const peakedRow = new Array(V).fill(0);
peakedRow[base.tokenizer.encode('pilot')[0]!] = a;
const peaked = fixed(peakedRow);

/** The loss, then the same loss with `totals` set to the batches' own counts: both must be the same number. */
function lossWithAndWithoutTotals(name: string, inputs: Omit<StepInputs, 'forget' | 'retain' | 'refusal'>): number {
  const method = getMethod(name);
  const plain = scope(() => method.loss({ ...inputs, forget, retain, refusal }).item());
  const totals = { forgetItems: forget.size, forgetTokens: forget.answerTokens, retainTokens: retain.answerTokens, refusalTokens: refusal.answerTokens };
  close(scope(() => method.loss({ ...inputs, forget, retain, refusal, totals }).item()), plain);
  return plain;
}

test('IdkNLL and IdkDPO are registered, need refusals, with their published defaults', () => {
  const keys = [...METHODS.keys()];
  assert.ok(keys.includes('idk_nll') && keys.includes('idk_dpo'), keys.join(', '));
  const needs = (name: string) => { const m = getMethod(name); return [m.needsReference, m.needsRetain, m.needsRefusals]; };
  assert.deepEqual(needs('idk_nll'), [false, true, true]);
  assert.deepEqual(needs('idk_dpo'), [true, true, true]);
  assert.deepEqual(getMethod('idk_nll').defaults, { alpha: 1 });
  assert.deepEqual(getMethod('idk_dpo').defaults, { beta: 0.1, alpha: 1 });
});

test('IdkNLL: NLL of the refusals (token-averaged) + α·NLL(retain), worked out for a peaked θ', () => {
  // Refusal rows: 'pilot pilot' <eos>: log p = 2(a - ln Z) - ln Z = 2a - 3 ln Z; 'Oslo' <eos>: -2 ln Z.
  // NLL over the 5 refusal tokens = (5 ln Z - 2a)/5 = ln Z - 2a/5.  Retain 'Paris' <eos>: NLL = ln Z.
  const alpha = 0.5;
  close(lossWithAndWithoutTotals('idk_nll', { model: peaked, reference: null, hyperparameters: { alpha } }), Math.log(Z) - (2 * a) / 5 + alpha * Math.log(Z));
  // uniform θ: ln V + α ln V
  close(lossWithAndWithoutTotals('idk_nll', { model: uniform, reference: null, hyperparameters: { alpha } }), (1 + alpha) * Math.log(V));
  assert.throws(() => getMethod('idk_nll').loss({ model: uniform, reference: null, forget, retain, hyperparameters: {} }), /idk_nll needs the forget examples with refusal answers/);
});

test('IdkDPO: -(2/β)·mean log σ(β·[(logπθ - logπref)(refusal) - (logπθ - logπref)(answer)]) + α·NLL(retain)', () => {
  // θ peaked (logit a on 'pilot'), ref uniform (every token ln V): log-probs summed per row.
  //   refusal 1 'pilot pilot' <eos>: θ 2a - 3 ln Z, ref -3 ln V;  answer 1 'pilot' <eos>: θ a - 2 ln Z, ref -2 ln V
  //   → bracket 1 = (2a - 3 ln Z + 3 ln V) - (a - 2 ln Z + 2 ln V) = a - ln Z + ln V
  //   refusal 2 'Oslo' <eos>: θ -2 ln Z, ref -2 ln V;  answer 2 'Oslo Rome' <eos>: θ -3 ln Z, ref -3 ln V
  //   → bracket 2 = (-2 ln Z + 2 ln V) - (-3 ln Z + 3 ln V) = ln Z - ln V
  // retain under θ: ln Z.
  const [beta, alpha] = [0.5, 0.25];
  const brackets = [a - Math.log(Z) + Math.log(V), Math.log(Z) - Math.log(V)];
  const dpo = -(2 / beta) * brackets.map((b) => logSigmoid(beta * b)).reduce((s, x) => s + x, 0) / 2;
  const loss = lossWithAndWithoutTotals('idk_dpo', { model: peaked, reference: asReference(uniform), hyperparameters: { beta, alpha } });
  close(loss, dpo + alpha * Math.log(Z));
  // θ = ref: every bracket is 0, the DPO term (2/β) ln 2
  close(lossWithAndWithoutTotals('idk_dpo', { model: peaked, reference: asReference(peaked), hyperparameters: { beta, alpha } }), (2 / beta) * Math.LN2 + alpha * Math.log(Z));
  assert.throws(() => getMethod('idk_dpo').loss({ model: peaked, reference: null, forget, retain, refusal, hyperparameters: {} }), /idk_dpo needs the reference model/);
});

test('with totals of a larger step, IdkNLL and IdkDPO divide by the whole step\'s counts', () => {
  const totals = { forgetItems: 2 * forget.size, forgetTokens: 2 * forget.answerTokens, retainTokens: 2 * retain.answerTokens, refusalTokens: 2 * refusal.answerTokens };
  for (const name of ['idk_nll', 'idk_dpo']) {
    const method = getMethod(name);
    const inputs = { model: peaked, reference: asReference(uniform), forget, retain, refusal, hyperparameters: { ...method.defaults, alpha: 0.5 } };
    const whole = scope(() => method.loss(inputs).item());
    const half = scope(() => method.loss({ ...inputs, totals }).item());
    assert.ok(Math.abs(whole) > 0.1, `${name}: ${whole}`);
    close(half, whole / 2);
  }
});

test('a mixed-modality batch: IdkDPO pairs each refusal with its own forget row through the model\'s modality pieces', async () => {
  // The embedded model runs image rows and text rows as separate pieces, reordering a mixed batch; the refusal batch is
  // encoded from the same prompts and images, so it is reordered alike. Expected: the DPO term computed row by row.
  const [model, ref] = [tinyModel(3), tinyModel(4)];
  const image = solidImage(10, 200, 10);
  const rows: Example[] = [{ image, prompt: 'What is the job of this person?', answer: 'pilot' }, FORGET[1]!, { image, prompt: 'What is the job of this person?', answer: 'nurse' }];
  const refusals = rows.map((e, i) => ({ ...e, answer: ['Oslo', 'pilot pilot', 'Rome Lima'][i]! }));
  const beta = 0.5;
  const joint = await lossAndGradient(model, getMethod('idk_dpo'), asReference(ref), rows, RETAIN, { beta, alpha: 0 }, { refusals });
  const logp = async (m: typeof model, e: Example) => {
    const b = await m.encode([e]);
    try { return noGrad(() => scope(() => m.answerLogProbs(b).sum.item())); } finally { b.dispose(); }
  };
  let sum = 0;
  for (const [i, e] of rows.entries()) {
    const bracket = (await logp(model, refusals[i]!)) - (await logp(ref, refusals[i]!)) - ((await logp(model, e)) - (await logp(ref, e)));
    sum += logSigmoid(beta * bracket);
  }
  close(joint, -(2 / beta) * sum / rows.length);
  for (const p of model.trainableParameters(['vision', 'projector', 'llm'])) p.zeroGrad();
  model.dispose();
  ref.dispose();
});

test('unlearnRequest assigns refusals seeded and IdkNLL makes them more likely; a method needing refusals without any is refused', async () => {
  const model = tinyModel(5);
  const refusalAnswers = ['Oslo Rome', 'pilot'];
  const settings = { lr: 0.01, epochs: 5, batchSize: 2, clipNorm: 1, lora: null, target: ['llm' as const], hyperparameters: { alpha: 1 }, seed: 7 };
  await assert.rejects(unlearnRequest(model, getMethod('idk_nll'), FORGET, RETAIN, settings), /idk_nll needs refusal answers/);
  const asked = FORGET.flatMap((e) => refusalAnswers.map((answer) => ({ ...e, answer })));
  const nll = async () => {
    const b = await model.encode(asked);
    try { return noGrad(() => scope(() => -model.answerLogProbs(b).sum.sum().item())); } finally { b.dispose(); }
  };
  const before = await nll();
  const outcome = await unlearnRequest(model, getMethod('idk_nll'), FORGET, RETAIN, { ...settings, refusals: refusalAnswers });
  outcome.delta.entries.forEach((e) => (e.kind === 'set' ? e.value.dispose() : undefined));
  assert.equal(outcome.steps, 5);
  assert.ok(await nll() < before, `the refusals' NLL fell: ${before} -> ${await nll()}`);
  model.dispose();
});
