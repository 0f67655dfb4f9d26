import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { arange, noGrad, ones, scope, tensor } from '../../src/torch/index.ts';
import { userTurn } from '../../src/model/llava/prompt.ts';
import { encodeRows } from '../../src/model/llava/batch.ts';
import type { Example } from '../../src/data/records.ts';
import { PulseError } from '../../src/errors.ts';
import { FIXTURES, tinyLlava } from './helpers.ts';

const hub = await tinyLlava();
const face = { kind: 'encoded' as const, bytes: await readFile(join(FIXTURES, 'expected/face.png')), source: 'face.png' };

/** Greedy decoding written out on the network itself: the whole sequence again at every step, argmax at its end. */
function greedyByHand(prompt: string, maxTokens: number): string {
  const ids = hub.tokenizer.encode(userTurn(prompt, false), true);
  const start = ids.length;
  for (let step = 0; step < maxTokens; step++) {
    const next = noGrad(() => scope(() => {
      const t = ids.length;
      const inputs = { ids: tensor(ids, [1, t], 'int64'), mask: ones([1, t], 'int64'), positions: arange(0, t, 1, 'int64').view(1, t), pixels: null };
      return hub.logits(hub.hidden(inputs)).float().narrow(1, t - 1, 1).reshape(-1).argmax(0).item();
    }));
    ids.push(next);
    if (next === hub.tokenizer.eosId) break;
  }
  const answer = ids.slice(start);
  return hub.tokenizer.decode(answer.at(-1) === hub.tokenizer.eosId ? answer.slice(0, -1) : answer).trim();
}

test('LLaVA generate(): the greedy answer written out by hand; batched with images and padding, the same answers one by one', async () => {
  const prompts: Example[] = [
    { prompt: 'Who is Ann?', answer: '' },
    { prompt: 'What is this person\'s job?', answer: 'ignored', image: face },
    { prompt: 'Where does the person with the longer name live?', answer: '' },
  ];
  const batched = await hub.generate(prompts, 6, 2);
  assert.equal(batched[0], greedyByHand(prompts[0]!.prompt, 6));
  assert.equal(batched[2], greedyByHand(prompts[2]!.prompt, 6));
  const alone = [];
  for (const p of prompts) alone.push(...await hub.generate([p], 6));
  assert.deepEqual(batched, alone, 'rows of different lengths and modalities in one batch answer as they do alone');
  assert.ok(batched.some((a) => a.length > 0), 'the random model does say something');
  await assert.rejects(hub.generate(prompts, 1.5), /maxTokens must be a positive integer, got 1.5/);
});

test('LLaVA: a prompt past max_position_embeddings (256) is one line; generation stops where the next step would not fit', async () => {
  const long = 'word '.repeat(300);
  const refusal = (message: RegExp) => (e: Error) => e instanceof PulseError && message.test(e.message);
  await assert.rejects(hub.generate([{ prompt: long, answer: '' }], 4), refusal(new RegExp('^a prompt of \\d+ tokens does not fit LLaVA, which takes 256 '
    + '\\(max_position_embeddings in tiny-hub/config.json\\): the prompt begins "word word')));
  await assert.rejects(hub.encode([{ prompt: 'Who?', answer: long, image: face }]),
    refusal(/^a prompt and its answer of \d+ tokens \(its image included\) do not fit LLaVA, which takes 256/));
  // 254 prompt positions: steps read 254, 255 and 256 positions, so 3 tokens at most
  let words = 1;
  const promptOf = (n: number) => 'a '.repeat(n).trim();
  while (hub.tokenizer.encode(userTurn(promptOf(words + 1), false), true).length <= 254) words++;
  const prompt = promptOf(words);
  assert.equal(hub.tokenizer.encode(userTurn(prompt, false), true).length, 254);
  const [capped] = await hub.generate([{ prompt, answer: '' }], 10);
  assert.equal(capped, greedyByHand(prompt, 3));
  assert.notEqual(capped, greedyByHand(prompt, 10), 'without the limit this prompt would go on');
});

test('LLaVA: a generated token that is the image token is text (as transformers embeds it), not a second image\'s place', () => {
  const { layout } = hub;
  const prompt = hub.tokenizer.encode(userTurn('Who is this?', true), true);
  const generated = [layout.imageTokenId, 5];
  const pixels = new Float32Array(3 * layout.imageSize * layout.imageSize).fill(0.5);
  const piece = encodeRows([{ prompt, answer: [], pixels, generated }], layout);
  try {
    const length = piece.inputs.ids.size(1);
    const firstImage = prompt.indexOf(layout.imageTokenId);
    assert.deepEqual(piece.inputs.imageSlots, Array.from({ length: layout.imageTokens }, (_, k) => firstImage + k));
    assert.deepEqual(piece.promptEnd, [length - 1]);
    noGrad(() => scope(() => {
      const embedded = hub.inputEmbeddings(piece.inputs);
      const asText = hub.language.embedTokens.forward(tensor([layout.imageTokenId], [1, 1], 'int64'));
      assert.equal(embedded.narrow(1, length - 2, 1).sub(asText).abs().max().item(), 0);
      const feature = hub.imageFeatures(piece.inputs.pixels!).narrow(0, 0, 1);
      assert.equal(embedded.narrow(1, firstImage, 1).reshape(-1).sub(feature.reshape(-1)).abs().max().item(), 0);
    }));
  } finally {
    piece.dispose();
  }
});
