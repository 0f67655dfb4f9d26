import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope, AdamW } from '../../src/torch/index.ts';
import { parseTarget } from '../../src/model/model.ts';
import { METHODS, getMethod } from '../../src/unlearn/registry.ts';
import { tokenAveragedNll } from '../../src/unlearn/method.ts';
import { tinyModel, solidImage } from '../model/helpers.ts';
import { FORGET, V, asReference, fixed, peakedReference, uniform } from './fixed-logits.ts';

const encoded = await uniform.encode(FORGET);
const hp = (name: string) => ({ ...getMethod(name).defaults });

test('GA: L = -NLL(forget); with uniform logits NLL = ln V per token', () => scope(() => {
  const loss = getMethod('ga').loss({ model: uniform, reference: null, forget: encoded, retain: null, hyperparameters: hp('ga') });
  assert.ok(Math.abs(loss.item() - -Math.log(V)) < 1e-5);
}));

test('GA+KLR: -NLL + λ·KL(ref‖θ); KL worked out for a peaked reference against a uniform model', () => scope(() => {
  // KL of the peaked reference against uniform θ, worked out in peakedReference.
  const { reference, kl } = peakedReference();
  const lambda = 0.5;
  const loss = getMethod('ga_klr').loss({ model: uniform, reference, forget: encoded, retain: encoded, hyperparameters: { lambda } });
  assert.ok(Math.abs(loss.item() - (-Math.log(V) + lambda * kl)) < 1e-5, `${loss.item()} vs ${-Math.log(V) + lambda * kl}`);
  // KL of a model against itself is 0: the loss is GA's alone.
  const same = getMethod('ga_klr').loss({ model: uniform, reference: asReference(uniform), forget: encoded, retain: encoded, hyperparameters: { lambda } });
  assert.ok(Math.abs(same.item() - -Math.log(V)) < 1e-5);
}));

test('NPO: -(2/β)·mean log σ(-β(logπθ - logπref)), worked out per item', () => scope(() => {
  const beta = 0.5;
  // θ uniform: logπθ = -n ln V for an answer of n tokens (n = 2 and 3 here).
  // ref uniform over V but with logit 1 on one word that is not in the answers: each answer
  // token has p = 1/(V - 1 + e).
  const row = new Array(V).fill(0);
  row[4] = 1; // '<image>': never an answer token
  const reference = asReference(fixed(row));
  const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
  const expected = -(2 / beta) * [2, 3].map((n) => {
    const delta = -n * Math.log(V) - n * Math.log(1 / (V - 1 + Math.E));
    return logSigmoid(-beta * delta);
  }).reduce((s, x) => s + x, 0) / 2;
  const loss = getMethod('npo').loss({ model: uniform, reference, forget: encoded, retain: null, hyperparameters: { beta } });
  assert.ok(Math.abs(loss.item() - expected) < 1e-5, `${loss.item()} vs ${expected}`);
}));

test('NPO at θ = ref equals (2/β)·ln 2, on a real model with both modalities', async () => {
  const model = tinyModel(3);
  const reference = model.reference();
  const forget = await model.encode([...FORGET, { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(1, 2, 3) }]);
  for (const beta of [0.1, 1]) {
    const loss = scope(() => getMethod('npo').loss({ model, reference, forget, retain: null, hyperparameters: { beta } }).item());
    assert.ok(Math.abs(loss - (2 / beta) * Math.LN2) < 1e-4, `${loss}`);
  }
  forget.dispose();
  model.dispose();
  reference.dispose();
});

test('one step of each method lowers the likelihood of the forget answers', async () => {
  // IdkNLL has no term on the forget answers: on an untrained model, teaching any answer on their prompts (<eos> included)
  // makes them more likely too. test/unlearn/idk.test.ts checks that it makes the refusals more likely.
  for (const method of [...METHODS.values()].filter((m) => m.name !== 'idk_nll')) {
    const model = tinyModel(4);
    const reference = method.needsReference ? model.reference() : null;
    const params = model.trainableParameters(parseTarget('projector+llm'));
    const optimizer = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
    const forget = await model.encode(FORGET);
    const retain = method.needsRetain ? await model.encode([{ prompt: 'Where does Ada Stone live?', answer: 'Paris' }]) : null;
    const nll = () => scope(() => tokenAveragedNll(model, forget).item());
    const before = nll();
    // SimNPO's forget term saturates on answers the untrained model finds unlikely (β·ln V ≈ 16 at β = 4.5): its
    // gradient is ~1e-7 and the retain term, on the same prompt, would decide the step. Its forget term alone here.
    // IdkDPO's forget term prefers refusals (the forget examples with another answer) to the forget answers.
    const own: Record<string, number> = method.name === 'simnpo' ? { alpha: 0 } : {};
    const refusal = method.needsRefusals ? await model.encode(FORGET.map((e) => ({ ...e, answer: 'baker nurse farmer' }))) : null;
    scope(() => method.loss({ model, reference, forget, retain, refusal, hyperparameters: { ...method.defaults, ...own } }).backward());
    refusal?.dispose();
    optimizer.step();
    assert.ok(nll() > before, `${method.name}: NLL(forget) ${before} -> ${nll()}`);
    forget.dispose();
    retain?.dispose();
    optimizer.dispose();
    model.dispose();
    reference?.dispose();
  }
});

test('the registry names every method and rejects unknown ones', () => {
  assert.deepEqual([...METHODS.keys()], ['ga', 'ga_klr', 'npo', 'grad_diff', 'kl_min', 'npo_rt', 'simnpo', 'rmu', 'idk_nll', 'idk_dpo', 'mmunlearner', 'o3']);
  assert.throws(() => getMethod('sgd'), /unknown unlearning method 'sgd' \(known: ga, ga_klr, npo, grad_diff, kl_min, npo_rt, simnpo, rmu, idk_nll, idk_dpo, mmunlearner, o3\)/);
});
