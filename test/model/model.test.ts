import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope, noGrad, liveTensorCount, tensor, disposeAll, type Tensor } from '../../src/torch/index.ts';
import { Tokenizer, UNK } from '../../src/model/tokenizer.ts';
import { multipleChoiceText, LETTERS } from '../../src/model/prompt.ts';
import { MultimodalModel, parseTarget } from '../../src/model/multimodal.ts';
import { encodePackedOptions, type EncodedBatch, type Example } from '../../src/model/batch.ts';
import { trainAnswerNll } from '../../src/train/loop.ts';
import { QUESTIONS, tinyModel, solidImage } from './helpers.ts';

const examples: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' },
  { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) },
];
const outputs = (model: MultimodalModel): number[][] => scope(() => examples.map((e) => model.answerLogProbs(model.encode([e])).sum.toArray()));

test('tokenizer: words, punctuation and newlines; unknown words map to <unk>', () => {
  const t = Tokenizer.fromTexts(["What is Ada's job?\nA. pilot"]);
  assert.deepEqual(t.encode("What is Ada's job?").map((i) => t.words[i]), ['What', 'is', 'Ada', "'s", 'job', '?']);
  assert.equal(t.decode(t.encode("What is Ada's job?")), "What is Ada's job?");
  assert.equal(t.encode('zebra')[0], UNK);
  assert.equal(t.encode('A. pilot\n').length, 4);
  assert.equal(t.hash(), Tokenizer.fromTexts(["A. pilot\nWhat is Ada's job?"]).hash(), 'vocabulary is sorted, so the order of texts does not matter');
});

test('LoRA with B = 0 leaves outputs unchanged; merging gives the outputs of the unmerged adapter', () => {
  const model = tinyModel();
  const before = outputs(model);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['projector', 'llm'], layers: [] });
  assert.deepEqual(outputs(model), before);
  noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.5); });
  const adapted = outputs(model);
  assert.notDeepEqual(adapted, before);
  model.mergeLora();
  assert.equal(model.hasLora, false);
  const merged = outputs(model);
  adapted.flat().forEach((v, i) => assert.ok(Math.abs(v - merged.flat()[i]!) < 1e-4, `${v} vs ${merged.flat()[i]}`));
  model.dispose();
});

test('training LoRA adapters leaves the frozen base parameters unchanged', () => {
  const model = tinyModel();
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['qkv', 'fc'] });
  const base = model.snapshot();
  const params = model.trainableParameters(parseTarget('llm'));
  assert.equal(params.length, 2 * 2 * model.config.lm.layers);
  trainAnswerNll(model, params, () => examples, { label: 'test', steps: 5, lr: 1e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  for (const [name, value] of model.stateDict()) {
    assert.deepEqual(value.toArray(), base.get(name)!.toArray(), `${name} changed`);
  }
  const bNorm = scope(() => [...model.loraState()].filter(([k]) => k.endsWith('lora_b')).reduce((n, [, t]) => n + t.abs().sum().item(), 0));
  assert.ok(bNorm > 0, 'the adapters did train');
  for (const t of base.values()) t.dispose();
  model.dispose();
});

test('snapshot and restore put every parameter back', () => {
  const model = tinyModel();
  const before = outputs(model);
  const snap = model.snapshot();
  const params = model.trainableParameters(parseTarget('vision+projector+llm'));
  trainAnswerNll(model, params, () => examples, { label: 'test', steps: 3, lr: 1e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  assert.notDeepEqual(outputs(model), before);
  model.restore(snap);
  assert.deepEqual(outputs(model), before);
  for (const t of snap.values()) t.dispose();
  model.dispose();
});

test('both scoring modes reach 100% on a hand-made set the model was taught', () => {
  const model = tinyModel(1);
  const teach: Example[] = QUESTIONS.flatMap((q) => {
    const answerText = q.options[LETTERS.indexOf(q.answer)]!;
    return [
      { image: q.image, prompt: q.question, answer: answerText },
      { image: q.image, prompt: multipleChoiceText(q), answer: q.answer },
    ];
  });
  const live = liveTensorCount();
  trainAnswerNll(model, model.trainableParameters(parseTarget('vision+projector+llm')), () => teach,
    { label: 'teach', steps: 150, lr: 1e-2, warmupSteps: 10, finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1 });
  assert.equal(liveTensorCount(), live, 'training leaked tensors');
  assert.equal(model.score(QUESTIONS, 'likelihood').accuracy, 1);
  assert.equal(model.score(QUESTIONS, 'letter').accuracy, 1);
  assert.equal(liveTensorCount(), live, 'scoring leaked tensors');
  model.dispose();
});

/** A model whose next token is always `word`, whatever the input. */
class AlwaysSays extends MultimodalModel {
  word = '';
  override textLogits(batch: EncodedBatch): Tensor {
    const [b, l] = batch.ids.shape as [number, number];
    const v = this.tokenizer.size;
    const logits = new Float32Array(b * l * v);
    for (let i = 0; i < b * l; i++) logits[i * v + this.tokenizer.id(this.word)] = 10;
    return tensor(logits, [b, l, v]);
  }
}

test('letter scoring takes the first character of the greedy token, and a non-letter is wrong', () => {
  const base = tinyModel();
  const model = new AlwaysSays(base.config, base.tokenizer);
  const q = QUESTIONS[0]!; // answer B
  model.word = 'B';
  assert.deepEqual(model.predict([q], 'letter'), ['B']);
  model.word = 'baker';
  assert.deepEqual(model.predict([q], 'letter'), [null], "'baker' starts with a lower-case b: not a letter answer");
  model.word = 'A';
  assert.deepEqual(model.score([q], 'letter').correct, [false]);
  base.dispose();
  model.dispose();
});

test('update targets parse unions and reject unknown parts', () => {
  assert.deepEqual(parseTarget('llm+projector'), ['projector', 'llm']);
  assert.throws(() => parseTarget('llm+audio'), /unknown model part 'audio'/);
});

test('packed option scoring gives the log-probabilities of separate sequences, with and without images', () => {
  const model = tinyModel(6);
  for (const q of QUESTIONS) {
    const separate = model.optionLogProbsUnpacked(q);
    const batch = encodePackedOptions([q, q].map((x) => ({ image: x.image, prompt: x.question, options: x.options })), model.tokenizer, 32, model.visualTokens, model.config.lm.maxSeq);
    const packed = noGrad(() => model.packedOptionLogProbs(batch));
    disposeAll(batch);
    assert.equal(packed.length, 8);
    separate.forEach((v, k) => {
      assert.ok(Math.abs(v - packed[k]!) < 1e-4, `option ${k}: ${v} vs ${packed[k]}`);
      assert.ok(Math.abs(v - packed[4 + k]!) < 1e-4, 'second row');
    });
  }
  model.dispose();
});
