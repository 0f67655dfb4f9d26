import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../src/torch/index.ts';
import { membershipAttack, MIN_K_PERCENT } from '../../src/attacks/mia.ts';
import type { Example, PersonRecord } from '../../src/data/records.ts';
import type { ModelBatch, PulseModel } from '../../src/model/model.ts';
import { attackContext } from './context.ts';

/** A model that gives each answer fixed per-token log-probabilities: only what the mia attack calls. */
function fixedTokenModel(logProbs: Record<string, number[]>): PulseModel {
  const model = {
    encode: async (examples: readonly Example[]) => ({ size: examples.length, answerTokens: 0, pieces: [], examples, dispose: () => {} }),
    answerTokenLogProbs: (batch: ModelBatch) => {
      const rows = (batch as unknown as { examples: Example[] }).examples.map((e) => logProbs[e.answer]!);
      return { values: tensor(rows.flat()), tokens: tensor(rows.map((r) => r.length)) };
    },
  };
  return model as unknown as PulseModel;
}

const person = (id: string, answers: string[]): PersonRecord => ({ id, name: id, questions: [], training: answers.map((answer) => ({ prompt: 'q', answer })), generation: [], cloze: [] });

test('mia reports Min-K% AUCs next to the loss AUCs, from the same per-token log-probabilities', async () => {
  assert.equal(MIN_K_PERCENT, 20);
  // Five answer tokens each: Min-K% with k = 20 keeps ceil(20·5/100) = 1 token, the least likely one.
  //   member  "m": log p = −0.1, −0.1, −0.1, −0.1, −3  -> loss = 3.4/5 = 0.68; Min-K% = 3
  //   unseen  "u": log p = −1 ×5                       -> loss = 1;          Min-K% = 1
  //   retain  "r": log p = −0.5 ×5                     -> loss = 0.5;        Min-K% = 0.5
  // Lower = member: the loss calls "m" a member (0.68 < 1: AUC 1), Min-K% calls it a non-member (3 > 1: AUC 0);
  // "r" is a member by both (0.5 < 1: AUC 1).
  const model = fixedTokenModel({ m: [-0.1, -0.1, -0.1, -0.1, -3], u: [-1, -1, -1, -1, -1], r: [-0.5, -0.5, -0.5, -0.5, -0.5] });
  const context = attackContext(model, { unlearn: [person('a', ['m', 'm', 'm'])], retain: [person('b', ['r'])], unseen: [person('c', ['u', 'u'])] },
    { batchSize: 2 });
  const scores = await membershipAttack.run(context);
  assert.deepEqual(Object.keys(scores), ['auc_unlearn', 'auc_retain', 'mink_auc_unlearn', 'mink_auc_retain']);
  // text-only examples only: no multimodal AUC
  assert.deepEqual(scores.auc_unlearn, { overall: 1, multimodal: null, text_only: 1 });
  assert.deepEqual(scores.mink_auc_unlearn, { overall: 0, multimodal: null, text_only: 0 });
  assert.deepEqual(scores.mink_auc_retain, { overall: 1, multimodal: null, text_only: 1 });
});
