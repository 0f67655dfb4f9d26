import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keep, noGrad, scope, tensor, type Tensor } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import type { PulseModel } from '../../src/model/model.ts';
import { FisherMask, diagonalFisher, mmunlearner, saliencyMask } from '../../src/unlearn/fisher-mask.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { unlearnRequest, type UnlearnSettings } from '../../src/unlearn/unlearn.ts';
import type { UnlearningMethod } from '../../src/unlearn/method.ts';
import { StandInModel } from '../model/stand-in.ts';
import { solidImage, tinyModel } from '../model/helpers.ts';
import { FORGET, V, uniform } from './fixed-logits.ts';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);

test('mmunlearner is registered with MMUnlearner\'s defaults and a prepare hook', () => {
  const method = getMethod('mmunlearner');
  assert.deepEqual(method.defaults, { gamma: 1, alpha: 1 });
  assert.deepEqual([method.needsReference, method.needsRetain, typeof method.prepare], [false, true, 'function']);
});

test('mmunlearner\'s loss: -NLL(forget) + α·NLL(retain); uniform logits give NLL = ln V on both', async () => {
  // -ln V + α ln V; α = 0.5: -0.5 ln V.
  const forget = await uniform.encode(FORGET);
  const retain = await uniform.encode([{ prompt: 'Where does Ada Stone live?', answer: 'Paris' }]);
  const loss = scope(() => mmunlearner.loss({ model: uniform, reference: null, forget, retain, hyperparameters: { alpha: 0.5 } }).item());
  close(loss, -0.5 * Math.log(V));
  forget.dispose();
  retain.dispose();
});

test('the diagonal Fisher and the saliency mask on a hand-worked case', async () => {
  // One parameter w of 3 elements; batch i's loss is c_i · w, so its gradient is c_i.
  // forget: c = [1, 0, 0], [3, 2, 0]  -> F_f = mean of squares = [(1 + 9)/2, (0 + 4)/2, 0] = [5, 2, 0]
  // retain: c = [2, 2, 0]             -> F_r = [4, 4, 0]
  // mask (γ = 1): ratios (F_f + ε)/(F_r + ε) = [5/4, 2/4, ε/ε = 1] ≥ 1 -> [1, 0, 1];  γ = 1.5: 1.25, 0.5, 1 all < 1.5 -> [0, 0, 0]
  const w = keep(tensor([0.5, -1, 2])).setRequiresGrad(true);
  const fisherOf = (rows: number[][]) => diagonalFisher([w], rows.length, async (i) => {
    scope(() => w.mul(tensor(rows[i]!)).sum().backward());
  });
  const [forget] = await fisherOf([[1, 0, 0], [3, 2, 0]]);
  const [retain] = await fisherOf([[2, 2, 0]]);
  assert.deepEqual(forget!.toArray(), [5, 2, 0]);
  assert.deepEqual(retain!.toArray(), [4, 4, 0]);
  assert.deepEqual(scope(() => saliencyMask(forget!, retain!, 1).toArray()), [1, 0, 1]);
  assert.deepEqual(scope(() => saliencyMask(forget!, retain!, 1.5).toArray()), [0, 0, 0]);
  assert.equal(w.grad?.abs().sum().item() ?? 0, 0, 'the Fisher estimate leaves no gradient behind');
  for (const t of [w, forget!, retain!]) t.dispose();
});

const FORGET_MM: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' },
  { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) },
];
const RETAIN_MM: Example[] = [
  { prompt: 'Where does Ada Stone live?', answer: 'Paris' },
  { prompt: 'What is the job of this person?', answer: 'farmer', image: solidImage(30, 30, 200) },
];
const SETTINGS: UnlearnSettings = {
  lr: 1e-2, epochs: 3, batchSize: 2, clipNorm: 1, lora: null, target: ['projector', 'llm'], hyperparameters: { gamma: 1, alpha: 1 }, seed: 5,
};

/**
 * Runs a request with mmunlearner, keeping each trainable tensor's value and mask as prepare saw them;
 * returns, over all tensors, the largest change of a masked-out element and of a kept one, and the mask's share.
 */
async function maskedRequest(model: PulseModel): Promise<{ movedOut: number; movedIn: number; kept: number }> {
  let seen: { params: readonly Tensor[]; before: Tensor[]; masks: Tensor[]; kept: number } | null = null;
  const spy: UnlearningMethod = {
    ...mmunlearner,
    prepare: async (context) => {
      const state = await FisherMask.estimate(context);
      const copy = (ts: readonly Tensor[]) => noGrad(() => ts.map((t) => keep(scope(() => t.detach().float().clone()))));
      seen = { params: context.params, before: copy(context.params), masks: copy(state.masks), kept: state.kept };
      return state;
    },
  };
  const outcome = await unlearnRequest(model, spy, FORGET_MM, RETAIN_MM, SETTINGS);
  assert.equal(outcome.steps, 3);
  const { params, before, masks, kept } = seen!;
  const largest = (j: number, inMask: boolean) => noGrad(() => scope(() => {
    const change = params[j]!.sub(before[j]!).abs().mul(inMask ? masks[j]! : masks[j]!.neg().add(1));
    return change.numel ? change.max().item() : 0;
  }));
  const movedOut = Math.max(...params.map((_, j) => largest(j, false)));
  const movedIn = Math.max(...params.map((_, j) => largest(j, true)));
  for (const t of [...before, ...masks]) t.dispose();
  for (const e of outcome.delta.entries) if (e.kind === 'set') e.value.dispose();
  return { movedOut, movedIn, kept };
}

test('on the stand-in model, masked-out elements do not move over a request and kept ones do', async () => {
  const model = new StandInModel(1);
  const { movedOut, movedIn, kept } = await maskedRequest(model);
  assert.ok(kept > 0 && kept < 1, `the mask keeps ${kept} of the elements`);
  assert.equal(movedOut, 0);
  assert.ok(movedIn > 1e-4, `kept elements moved by at most ${movedIn}`);
  model.dispose();
});

test('on the embedded model, masked-out elements do not move over a request and kept ones do', async () => {
  const model = tinyModel(6);
  const { movedOut, movedIn, kept } = await maskedRequest(model);
  assert.ok(kept > 0 && kept < 1, `the mask keeps ${kept} of the elements`);
  assert.equal(movedOut, 0);
  assert.ok(movedIn > 1e-4, `kept elements moved by at most ${movedIn}`);
  model.dispose();
});
