import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, noGrad, scope } from '../../src/torch/index.ts';
import { PARTS, type PulseModel } from '../../src/model/model.ts';
import type { Example } from '../../src/data/records.ts';
import { trainAnswerNll } from '../../src/train/loop.ts';
import { greedyTokens, withoutStop } from '../../src/model/greedy.ts';
import { solidImage, tinyModel } from './helpers.ts';
import { StandInModel, tokenId } from './stand-in.ts';

// several tokens per answer, both modalities, two images that differ only in colour
const taught: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot of Oslo' },
  { prompt: 'Where does Ada Stone live?', answer: 'Rome' },
  { prompt: 'What is the job of this person?', answer: 'nurse of Lima', image: solidImage(200, 30, 30) },
  { prompt: 'What is the job of this person?', answer: 'baker', image: solidImage(30, 30, 200) },
];
const prompts = taught.map(({ answer: _, ...rest }) => ({ ...rest, answer: 'ignored' }));

async function trained(model: PulseModel): Promise<void> {
  await trainAnswerNll(model, model.trainableParameters(PARTS), () => taught,
    { label: 'teach', steps: 150, lr: 1e-2, warmupSteps: 10, finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1 });
  model.freeze();
}

/** The argmax of answerLogits at each answer position (one per answer token, then the end-of-answer position). */
async function argmaxIds(model: PulseModel, prompt: Example, answer: string): Promise<number[]> {
  const batch = await model.encode([{ ...prompt, answer }]);
  try {
    return noGrad(() => scope(() => model.answerLogits(batch).argmax(1).toArray()));
  } finally {
    batch.dispose();
  }
}

test('embedded model: generate() says the taught answers, each token the argmax of answerLogits, in eval mode, no leak', async () => {
  const model = tinyModel(3);
  await trained(model);
  model.setTraining(true);
  // the mixed batch: multimodal rows run first, but the answers come back in the prompts' order
  const answers = await model.generate(prompts, 8, 3);
  assert.deepEqual(answers, taught.map((e) => e.answer));
  // the first call cached the images' vision features; a second one allocates nothing that outlives it
  const live = liveTensorCount();
  assert.deepEqual(await model.generate(prompts, 8, 3), answers);
  assert.equal(liveTensorCount(), live, 'generation leaked tensors');
  assert.equal(model.training, true, 'the training mode is restored');
  for (const [i, p] of prompts.entries()) {
    // teacher-forced on the generated answer, the argmax at every position is the token generation chose, then <eos>
    const ids = await argmaxIds(model, p, answers[i]!);
    assert.deepEqual(ids.map((id) => model.tokenizer.words[id]), [...answers[i]!.split(' '), '<eos>'], `prompt ${i}: every step is the argmax`);
  }
  // a budget of one token gives the first word only
  assert.deepEqual(await model.generate(prompts, 1), ['pilot', 'Rome', 'nurse', 'baker']);
  await assert.rejects(model.generate(prompts, 0), /maxTokens must be a positive integer, got 0/);
  model.dispose();
});

test('stand-in model: generate() follows argmax of its answer logits step by step and decodes the words it saw', async () => {
  const model = new StandInModel(0);
  await trained(model);
  const answers = await model.generate(prompts, 6);
  for (const [i, p] of prompts.entries()) {
    // teacher-forced on the generated answer, the argmax at every position is the token generation chose, then <eos> (id 2)
    assert.deepEqual(await argmaxIds(model, p, answers[i]!), [...answers[i]!.split(' ').map(tokenId), 2], `prompt ${i}: every step is the argmax`);
  }
  assert.deepEqual(answers, taught.map((e) => e.answer), 'the stand-in learned the four answers');
  model.dispose();
});

test('the shared greedy loop: one call per step for the rows still going; stop, the budget or `going` ends a row', () => {
  // each row's greedy tokens; 0 is the stop token
  const script = [[5, 6, 0], [7, 0], [8, 8, 8, 8, 8], [9, 4, 4]];
  const calls: number[][] = [];
  const next = (rows: readonly number[], generated: readonly (readonly number[])[]) => {
    calls.push([...rows]);
    return rows.map((r) => script[r]![generated[r]!.length]!);
  };
  // row 3 ends as soon as it has produced a 4 (`going` false)
  const out = greedyTokens(script.length, next, 0, 4, (row, ids) => !(row === 3 && ids.at(-1) === 4));
  assert.deepEqual(out, [[5, 6, 0], [7, 0], [8, 8, 8, 8], [9, 4]]);
  assert.deepEqual(calls, [[0, 1, 2, 3], [0, 1, 2, 3], [0, 2], [2]]);
  assert.deepEqual(out.map((ids) => withoutStop(ids, 0)), [[5, 6], [7], [8, 8, 8, 8], [9, 4]]);
});
