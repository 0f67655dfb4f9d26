import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad, scope } from '../../src/torch/index.ts';
import type { Example } from '../../src/data/records.ts';
import type { PulseModel } from '../../src/model/model.ts';
import { solidImage, tinyModel } from './helpers.ts';
import { StandInModel } from './stand-in.ts';
import { FIXTURES, tinyLlava } from '../llava/helpers.ts';

/**
 * answerTokenLogProbs gives the terms answerLogProbs sums: split by `tokens`, each row's run sums to that row's
 * logπθ(y|x), with as many terms as answerLogProbs counts, every one a log-probability (<= 0). Mixed modalities and
 * unequal answer lengths, so that a row order or padding mix-up shows.
 */
async function checkSumsPerRow(model: PulseModel, examples: readonly Example[]): Promise<void> {
  const batch = await model.encode(examples);
  try {
    const { perToken, sums, counts } = noGrad(() => scope(() => {
      const summed = model.answerLogProbs(batch);
      const each = model.answerTokenLogProbs(batch);
      assert.deepEqual(each.tokens.toArray(), summed.tokens.toArray(), 'the same token count per row');
      return { perToken: each.values.toArray(), sums: summed.sum.toArray(), counts: summed.tokens.toArray() };
    }));
    assert.equal(perToken.length, counts.reduce((a, b) => a + b, 0), 'one value per answer token');
    assert.ok(perToken.every((v) => v <= 0), 'log-probabilities');
    let at = 0;
    counts.forEach((n, row) => {
      const run = perToken.slice(at, (at += n)).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(run - sums[row]!) < 1e-4 * Math.max(1, Math.abs(sums[row]!)), `row ${row}: Σ per-token ${run} vs answerLogProbs ${sums[row]}`);
    });
  } finally {
    batch.dispose();
  }
}

const image = solidImage(200, 30, 30);
const mixed: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' },
  { image, prompt: 'What is the job of this person?', answer: 'nurse in Oslo' },
  { prompt: 'Where does Ada Stone live?', answer: 'Rome' },
  { image, prompt: 'Where does this person live?', answer: 'Lima' },
];

test('answerTokenLogProbs: each row sums to answerLogProbs (embedded model, stand-in)', async () => {
  for (const model of [tinyModel(3), new StandInModel(3)]) {
    await checkSumsPerRow(model, mixed);
    model.dispose();
  }
});

test('answerTokenLogProbs: each row sums to answerLogProbs (tiny LLaVA, over several micro-batches)', async () => {
  const face = { kind: 'encoded' as const, bytes: readFileSync(join(FIXTURES, 'expected/face.png')), source: 'face.png' };
  const model = await tinyLlava('tiny-hub', { microBatch: 3 });
  await checkSumsPerRow(model, [
    { image: face, prompt: 'Who is this person?', answer: 'Ann Lee' },
    { prompt: 'Where was Ann Lee born?', answer: 'Paris' },
    { image: face, prompt: 'What does this person do?', answer: 'She is a painter of large canvases' },
    { prompt: 'Tell me about Ann Lee.', answer: 'Ann Lee paints.' },
  ]);
  model.dispose();
});
