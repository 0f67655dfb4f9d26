import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope, noGrad, liveTensorCount, tensor, disposeAll, type Tensor } from '../../src/torch/index.ts';
import { Tokenizer, UNK } from '../../src/model/embedded/tokenizer.ts';
import { multipleChoiceText, LETTERS } from '../../src/text/multiple-choice.ts';
import { EmbeddedModel } from '../../src/model/embedded/model.ts';
import { parseTarget, scoreAnswers, disposeDelta } from '../../src/model/model.ts';
import { encodePackedOptions, type EncodedBatch } from '../../src/model/embedded/batch.ts';
import type { Example } from '../../src/data/records.ts';
import { trainAnswerNll } from '../../src/train/loop.ts';
import { QUESTIONS, tinyModel, solidImage } from './helpers.ts';

const examples: Example[] = [
  { prompt: 'What is the job of Ada Stone?', answer: 'pilot' },
  { prompt: 'What is the job of this person?', answer: 'nurse', image: solidImage(200, 30, 30) },
];

/** Each example's answer log-probability, as its own batch. */
async function outputs(model: EmbeddedModel): Promise<number[]> {
  const out: number[] = [];
  for (const e of examples) {
    const batch = await model.encode([e]);
    out.push(...scope(() => model.answerLogProbs(batch).sum.toArray()));
    batch.dispose();
  }
  return out;
}

const close = (a: number[], b: number[], tolerance: number) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < tolerance, `${v} vs ${b[i]}`));

test('tokenizer: words, punctuation and newlines; unknown words map to <unk>', () => {
  const t = Tokenizer.fromTexts(["What is Ada's job?\nA. pilot"]);
  assert.deepEqual(t.encode("What is Ada's job?").map((i) => t.words[i]), ['What', 'is', 'Ada', "'s", 'job', '?']);
  assert.equal(t.decode(t.encode("What is Ada's job?")), "What is Ada's job?");
  assert.equal(t.encode('zebra')[0], UNK);
  assert.equal(t.encode('A. pilot\n').length, 4);
  assert.equal(t.hash(), Tokenizer.fromTexts(["A. pilot\nWhat is Ada's job?"]).hash(), 'vocabulary is sorted, so the order of texts does not matter');
});

test('a mixed batch gives each example the log-probability it has alone, images first', async () => {
  const model = tinyModel();
  const alone = await outputs(model);
  const batch = await model.encode(examples);
  assert.equal(batch.pieces.length, 2, 'one forward pass per modality');
  assert.equal(batch.size, 2);
  assert.equal(batch.answerTokens, 4, "'pilot' + <eos>, 'nurse' + <eos>");
  const mixed = scope(() => model.answerLogProbs(batch).sum.toArray());
  close(mixed, [alone[1]!, alone[0]!], 1e-5);
  batch.dispose();
  model.dispose();
});

test('LoRA with B = 0 leaves outputs unchanged; merging gives the outputs of the unmerged adapter', async () => {
  const model = tinyModel();
  const before = await outputs(model);
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['projector', 'llm'], layers: [] });
  assert.deepEqual(await outputs(model), before);
  noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.5); });
  const adapted = await outputs(model);
  assert.notDeepEqual(adapted, before);
  const delta = model.mergeLora();
  assert.equal(model.hasLora, false);
  assert.equal(delta.entries.length, 2 + 4 * model.config.lm.layers + 1, 'projector fc1, fc2; qkv, proj, fc, proj per block; head');
  close(await outputs(model), adapted, 1e-4);
  disposeDelta(delta);
  model.dispose();
});

test('training LoRA adapters leaves the frozen base parameters unchanged', async () => {
  const model = tinyModel();
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['llm'], layers: ['qkv', 'fc'] });
  const base = model.parameterDelta(['vision', 'projector', 'llm']);
  const params = model.trainableParameters(parseTarget('llm'));
  assert.equal(params.length, 2 * 2 * model.config.lm.layers);
  await trainAnswerNll(model, params, () => examples, { label: 'test', steps: 5, lr: 1e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  const state = model.stateDict();
  for (const e of base.entries) if (e.kind === 'set') assert.deepEqual(state.get(e.name)!.toArray(), e.value.toArray(), `${e.name} changed`);
  const bNorm = scope(() => [...model.loraState()].filter(([k]) => k.endsWith('lora_b')).reduce((n, [, t]) => n + t.abs().sum().item(), 0));
  assert.ok(bNorm > 0, 'the adapters did train');
  disposeDelta(base);
  model.dispose();
});

test('a full-update delta, applied to the model it came from, puts every trained parameter back', async () => {
  const model = tinyModel();
  const before = await outputs(model);
  const start = model.parameterDelta(['vision', 'projector', 'llm']);
  const params = model.trainableParameters(parseTarget('vision+projector+llm'));
  await trainAnswerNll(model, params, () => examples, { label: 'test', steps: 3, lr: 1e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  assert.notDeepEqual(await outputs(model), before);
  model.applyDelta(start);
  assert.deepEqual(await outputs(model), before);
  disposeDelta(start);
  model.dispose();
});

test('both scoring modes reach 100% on a hand-made set the model was taught', async () => {
  const model = tinyModel(1);
  const teach: Example[] = QUESTIONS.flatMap((q) => {
    const answerText = q.options[LETTERS.indexOf(q.answer)]!;
    return [
      { image: q.image, prompt: q.question, answer: answerText },
      { image: q.image, prompt: multipleChoiceText(q), answer: q.answer },
    ];
  });
  const live = liveTensorCount();
  await trainAnswerNll(model, model.trainableParameters(parseTarget('vision+projector+llm')), () => teach,
    { label: 'teach', steps: 150, lr: 1e-2, warmupSteps: 10, finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1 });
  assert.equal(liveTensorCount(), live, 'training leaked tensors');
  assert.equal((await scoreAnswers(model, QUESTIONS, 'likelihood')).accuracy, 1);
  assert.equal((await scoreAnswers(model, QUESTIONS, 'letter')).accuracy, 1);
  assert.equal(liveTensorCount(), live, 'scoring leaked tensors');
  model.dispose();
});

/** A model whose next token is always `word`, whatever the input. */
class AlwaysSays extends EmbeddedModel {
  word = '';
  override textLogits(batch: EncodedBatch): Tensor {
    const [b, l] = batch.ids.shape as [number, number];
    const v = this.tokenizer.size;
    const logits = new Float32Array(b * l * v);
    for (let i = 0; i < b * l; i++) logits[i * v + this.tokenizer.id(this.word)] = 10;
    return tensor(logits, [b, l, v]);
  }
}

test('letter scoring takes the first character of the greedy token, and a non-letter is wrong', async () => {
  const base = tinyModel();
  const model = new AlwaysSays(base.config, base.tokenizer);
  const q = QUESTIONS[0]!; // answer B
  model.word = 'B';
  assert.deepEqual((await model.predict([q], 'letter')).map((p) => p.choice), ['B']);
  model.word = 'baker';
  assert.deepEqual((await model.predict([q], 'letter')).map((p) => p.choice), [null], "'baker' starts with a lower-case b: not a letter answer");
  model.word = 'A';
  assert.deepEqual((await scoreAnswers(model, [q], 'letter')).correct, [false]);
  base.dispose();
  model.dispose();
});

test('update targets parse unions and reject unknown parts', () => {
  assert.deepEqual(parseTarget('llm+projector'), ['projector', 'llm']);
  assert.throws(() => parseTarget('llm+audio'), /unknown model part 'audio'/);
});

test('packed option scoring gives the log-probabilities of separate sequences, with and without images', async () => {
  const model = tinyModel(6);
  for (const q of QUESTIONS) {
    const options = await model.encode(q.options.map((o) => ({ image: q.image, prompt: q.question, answer: o })));
    const separate = noGrad(() => scope(() => model.answerLogProbs(options).sum.toArray()));
    options.dispose();
    const pixels = q.image?.kind === 'rgb' ? q.image.pixels : undefined;
    const batch = encodePackedOptions([q, q].map((x) => ({ image: pixels, prompt: x.question, options: x.options })), model.tokenizer, 32, model.visualTokens, model.config.lm.maxSeq);
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

test('with LoRA the reference is the model with adapters off: exactly a frozen copy, and no copy', async () => {
  const model = tinyModel(2);
  const copy = model.reference(); // nothing trains yet: a frozen copy
  model.attachLora({ rank: 4, alpha: 8, dropout: 0, parts: ['projector', 'llm'], layers: [] });
  noGrad(() => { for (const [k, t] of model.loraState()) if (k.endsWith('lora_b')) t.normal_(0, 0.5); });
  model.trainableParameters(parseTarget('projector+llm'));
  const live = liveTensorCount();
  const view = model.reference();
  assert.equal(liveTensorCount(), live, 'the view allocates nothing');
  const batch = await model.encode(examples);
  scope(() => {
    assert.deepEqual(view.answerLogProbs(batch).sum.toArray(), copy.answerLogProbs(batch).sum.toArray());
    assert.deepEqual(view.answerLogits(batch).toArray(), copy.answerLogits(batch).toArray());
    assert.notDeepEqual(model.answerLogProbs(batch).sum.toArray(), copy.answerLogProbs(batch).sum.toArray(), 'the adapters are on again');
  });
  batch.dispose();
  view.dispose();
  copy.dispose();
  model.dispose();
});

test('a full update\'s reference keeps the weights from before the update', async () => {
  const model = tinyModel(3);
  const params = model.trainableParameters(parseTarget('projector+llm'));
  const reference = model.reference();
  const batch = await model.encode(examples);
  const before = scope(() => reference.answerLogProbs(batch).sum.toArray());
  await trainAnswerNll(model, params, () => examples, { label: 'test', steps: 3, lr: 1e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  scope(() => {
    assert.deepEqual(reference.answerLogProbs(batch).sum.toArray(), before);
    assert.notDeepEqual(model.answerLogProbs(batch).sum.toArray(), before);
  });
  batch.dispose();
  reference.dispose();
  model.dispose();
});

test('scoring reuses vision features only while the vision weights stay as they are', async () => {
  const model = tinyModel();
  const fresh = tinyModel();
  const images = QUESTIONS.filter((q) => q.image);
  const scores = async (m: EmbeddedModel, mode: 'likelihood' | 'letter') => (await m.predict(images, mode)).map((p) => p.scores);
  const first = await scores(model, 'likelihood');
  assert.deepEqual(await scores(model, 'likelihood'), first, 'a cached batch scores as before');
  // a vision update from a delta: the cached features must not survive it
  const params = model.trainableParameters(parseTarget('vision'));
  await trainAnswerNll(model, params, () => [examples[1]!], { label: 'test', steps: 3, lr: 5e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  model.freeze();
  const trained = model.parameterDelta(['vision']);
  fresh.applyDelta(trained);
  for (const mode of ['likelihood', 'letter'] as const) assert.deepEqual(await scores(model, mode), await scores(fresh, mode), `${mode}: the trained vision weights are used`);
  assert.notDeepEqual(await scores(model, 'likelihood'), first);
  // while vision trains, every step changes it: scoring in the middle sees the current weights
  const again = model.trainableParameters(parseTarget('vision'));
  await trainAnswerNll(model, again, () => [examples[1]!], { label: 'test', steps: 2, lr: 5e-2, warmupSteps: 1, finalLrFraction: 1, weightDecay: 0, clipNorm: 1 });
  const mid = await scores(model, 'likelihood');
  const now = model.parameterDelta(['vision']);
  fresh.applyDelta(now);
  assert.deepEqual(mid, await scores(fresh, 'likelihood'));
  model.freeze();
  disposeDelta(trained);
  disposeDelta(now);
  model.dispose();
  fresh.dispose();
});
