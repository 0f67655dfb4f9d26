import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad } from '../../src/torch/index.ts';
import { parseTarget } from '../../src/model/model.ts';
import { learningRate, trainAnswerNll } from '../../src/train/loop.ts';
import { PulseError } from '../../src/errors.ts';
import { tinyModel } from '../model/helpers.ts';

test('learning rate: linear warm-up, then cosine down to the floor', () => {
  const o = { steps: 12, lr: 1, warmupSteps: 2, finalLrFraction: 0.1 };
  assert.equal(learningRate(0, o), 0.5);
  assert.equal(learningRate(1, o), 1);
  assert.equal(learningRate(2, o), 1); // cosine starts at its top
  assert.ok(Math.abs(learningRate(11, o) - 0.1) < 1e-12); // and ends at the floor
  // halfway through the decay: floor + (lr - floor)·0.5·(1 + cos(π/2)) = 0.55
  assert.ok(Math.abs(learningRate(2 + 4.5, { ...o }) - 0.55) < 1e-12);
});

test('a loss that turns NaN stops training with a clear error naming phase and step', async () => {
  const model = tinyModel();
  noGrad(() => model.lm.head.weight.fill_(Number.NaN));
  await assert.rejects(
    trainAnswerNll(model, model.trainableParameters(parseTarget('llm')), () => [{ prompt: 'What is the job of Ada Stone?', answer: 'pilot' }],
      { label: 'fine-tune', steps: 3, lr: 1e-3, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 }),
    (e: unknown) => e instanceof PulseError && /fine-tune: the loss became NaN at step 1/.test(e.message),
  );
  model.dispose();
});
