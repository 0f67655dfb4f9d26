import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import { METHODS, getMethod } from '../../src/unlearn/registry.ts';
import type { StepInputs } from '../../src/unlearn/method.ts';
import { FORGET, V, asReference, base, fixed, peakedReference, uniform } from './fixed-logits.ts';

const RETAIN: Example[] = [{ prompt: 'Where does Ada Stone live?', answer: 'Paris' }]; // 1 + <eos> = 2
const forget = await uniform.encode(FORGET);
const retain = await uniform.encode(RETAIN);
const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);

/** The loss, then the same loss with `totals` set to the batches' own counts: both must be the same number. */
function lossWithAndWithoutTotals(name: string, inputs: Omit<StepInputs, 'forget' | 'retain'>): number {
  const method = getMethod(name);
  const plain = scope(() => method.loss({ ...inputs, forget, retain }).item());
  const totals = { forgetItems: forget.size, forgetTokens: forget.answerTokens, retainTokens: retain.answerTokens };
  const withTotals = scope(() => method.loss({ ...inputs, forget, retain, totals }).item());
  close(withTotals, plain);
  return plain;
}

test('the new methods are registered after the first three, with their needs', () => {
  const keys = [...METHODS.keys()];
  for (const name of ['grad_diff', 'kl_min', 'npo_rt', 'simnpo']) assert.ok(keys.indexOf(name) > keys.indexOf('npo'), `${name} in ${keys.join(', ')}`);
  const needs = (name: string) => [getMethod(name).needsReference, getMethod(name).needsRetain];
  assert.deepEqual(needs('grad_diff'), [false, true]);
  assert.deepEqual(needs('kl_min'), [true, true]);
  assert.deepEqual(needs('npo_rt'), [true, true]);
  assert.deepEqual(needs('simnpo'), [false, true]);
  assert.deepEqual(getMethod('grad_diff').defaults, { gamma: 1, alpha: 1 });
  assert.deepEqual(getMethod('kl_min').defaults, { alpha: 1, lambda: 1 });
  assert.deepEqual(getMethod('npo_rt').defaults, { beta: 0.1, alpha: 1 });
  assert.deepEqual(getMethod('simnpo').defaults, { beta: 4.5, gamma: 0, npo_coeff: 0.125, alpha: 1 });
});

test('GradDiff: -γ·NLL(forget) + α·NLL(retain); uniform logits give NLL = ln V on both', () => {
  // -γ ln V + α ln V = (α - γ) ln V; γ = 2, α = 0.5: -1.5 ln V.
  const loss = lossWithAndWithoutTotals('grad_diff', { model: uniform, reference: null, hyperparameters: { gamma: 2, alpha: 0.5 } });
  close(loss, -1.5 * Math.log(V));
  // the defaults γ = α = 1 cancel exactly when both sets have the same NLL
  close(lossWithAndWithoutTotals('grad_diff', { model: uniform, reference: null, hyperparameters: { ...getMethod('grad_diff').defaults } }), 0);
});

test('KL-min: -NLL(forget) + α·NLL(retain) + λ·KL(ref‖θ) on retain, KL worked out for a peaked reference', () => {
  // The peaked reference's KL per token (peakedReference) is the same at every retain token, so its mean is that value.
  // θ uniform: NLL(forget) = NLL(retain) = ln V.  L = -ln V + α ln V + λ KL.
  const { reference, kl } = peakedReference();
  const [alpha, lambda] = [0.25, 0.5];
  const loss = lossWithAndWithoutTotals('kl_min', { model: uniform, reference, hyperparameters: { alpha, lambda } });
  close(loss, -Math.log(V) + alpha * Math.log(V) + lambda * kl);
  // defaults α = λ = 1, θ = ref: KL = 0 and the NLLs cancel: 0.
  close(lossWithAndWithoutTotals('kl_min', { model: uniform, reference: asReference(uniform), hyperparameters: { alpha: 1, lambda: 1 } }), 0);
});

test('NPO+RT: NPO\'s value + α·NLL(retain)', () => {
  // NPO as in losses.test.ts: θ uniform, logπθ = -n ln V for an answer of n tokens (2 and 3);
  // ref has logit 1 on '<image>' (never an answer token): each answer token has p = 1/(V - 1 + e).
  // NPO = -(2/β)·mean_n log σ(-β(logπθ - logπref)); retain NLL under uniform θ = ln V.
  const [beta, alpha] = [0.5, 0.75];
  const row = new Array(V).fill(0);
  row[4] = 1;
  const reference = asReference(fixed(row));
  const npo = -(2 / beta) * [2, 3].map((n) => logSigmoid(-beta * (-n * Math.log(V) - n * Math.log(1 / (V - 1 + Math.E))))).reduce((s, x) => s + x, 0) / 2;
  const loss = lossWithAndWithoutTotals('npo_rt', { model: uniform, reference, hyperparameters: { beta, alpha } });
  close(loss, npo + alpha * Math.log(V));
  // θ = ref: NPO = (2/β) ln 2
  close(lossWithAndWithoutTotals('npo_rt', { model: uniform, reference: asReference(uniform), hyperparameters: { beta, alpha } }), (2 / beta) * Math.LN2 + alpha * Math.log(V));
  assert.throws(() => getMethod('npo_rt').loss({ model: uniform, reference: null, forget, retain, hyperparameters: { beta, alpha } }), /npo_rt needs the reference model/);
});

test('SimNPO: -c(2/β)·mean log σ(-β·logπθ/|y| - γ) + α·NLL(retain), length-normalised per row', () => {
  // Uniform θ: logπθ/|y| = -ln V for every row, so L = -c(2/β)·log σ(β ln V - γ) + α ln V.
  const [beta, gamma, c, alpha] = [0.5, 1, 0.5, 2];
  const loss = lossWithAndWithoutTotals('simnpo', { model: uniform, reference: null, hyperparameters: { beta, gamma, npo_coeff: c, alpha } });
  close(loss, -c * (2 / beta) * logSigmoid(beta * Math.log(V) - gamma) + alpha * Math.log(V));

  // θ with logit a on 'pilot': Z = V - 1 + e^a, p(pilot) = e^a/Z, any other token 1/Z.
  // Row 1 ('pilot' <eos>): logπ/|y| = (a - 2 ln Z)/2; row 2 ('Oslo Rome' <eos>): -ln Z.
  // Retain ('Paris' <eos>): NLL = ln Z.  With a summed (not per-row) normalisation row 1 and 2 would share one value.
  const a = 2;
  const row = new Array(V).fill(0);
  row[base.tokenizer.encode('pilot')[0]!] = a;
  const peaked = fixed(row);
  const Z = V - 1 + Math.exp(a);
  const rows = [(a - 2 * Math.log(Z)) / 2, -Math.log(Z)];
  const forgetTerm = -(2 / beta) * rows.map((r) => logSigmoid(-beta * r - gamma)).reduce((s, x) => s + x, 0) / 2;
  const peakedLoss = lossWithAndWithoutTotals('simnpo', { model: peaked, reference: null, hyperparameters: { beta, gamma, npo_coeff: c, alpha } });
  close(peakedLoss, c * forgetTerm + alpha * Math.log(Z));
});

test('with totals of a larger step, each loss divides by the whole step\'s counts', () => {
  // Doubling every count halves each term: the micro-batch's share of the step's mean
  // (α = 0.5 so that no loss is 0 here: GradDiff's and KL-min's NLLs no longer cancel).
  const totals = { forgetItems: 2 * forget.size, forgetTokens: 2 * forget.answerTokens, retainTokens: 2 * retain.answerTokens };
  const reference = asReference(uniform);
  for (const name of ['grad_diff', 'kl_min', 'npo_rt', 'simnpo']) {
    const method = getMethod(name);
    const inputs = { model: uniform, reference: method.needsReference ? reference : null, forget, retain, hyperparameters: { ...method.defaults, alpha: 0.5 } };
    const whole = scope(() => method.loss(inputs).item());
    const half = scope(() => method.loss({ ...inputs, totals }).item());
    assert.ok(Math.abs(whole) > 0.1, `${name}: ${whole}`);
    close(half, whole / 2);
  }
});
