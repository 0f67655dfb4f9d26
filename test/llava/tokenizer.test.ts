import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { LlavaTokenizer } from '../../src/model/llava/tokenizer.ts';
import { FIXTURES } from './helpers.ts';
import { rng } from '../../src/random.ts';

/**
 * pulse tokenizes with @huggingface/tokenizers (JavaScript). The reference is the Rust library
 * itself, through its official Node binding (`tokenizers`): the ids must be the same.
 */
const PIECES = [
  'Who', ' is', ' this', ' person', '?', '<image>', '\n', 'USER:', ' ASSISTANT:', ' A', ': ', 'B', 'café', ' naïve', ' Zoë', 'Ångström',
  ' 日本', '语', ' 🙂', '👩‍🔬', ' 1987', '3.14', '  ', '\t', ' — ', '"quoted"', "it's", ' e\u0301', 'Just give ONE letter', ' Paris', '<s>', '</s>',
  ' ', 'ß', 'İ', '\u00a0', '...', '(a|b)', ' <pad>', 'x'.repeat(30),
];

function strings(count: number): string[] {
  const random = rng(7);
  const out = ['', ' ', '\n', '<image>', 'USER: <image>\nWho is this person?\nASSISTANT:', '  leading', 'trailing  '];
  while (out.length < count) {
    const n = 1 + Math.floor(random() * 8);
    out.push(Array.from({ length: n }, () => PIECES[Math.floor(random() * PIECES.length)]!).join(''));
  }
  return out;
}

test('token ids equal the Rust tokenizers library\'s on 300 strings (<image>, newlines, accents, emoji), with and without <s>', async () => {
  const path = join(FIXTURES, 'tiny-hub');
  const ours = LlavaTokenizer.load(path);
  const rust = RustTokenizer.fromFile(join(path, 'tokenizer.json'));
  for (const text of strings(300)) {
    for (const bos of [true, false]) {
      const expected = (await rust.encode(text, null, { addSpecialTokens: bos })).getIds();
      assert.deepEqual(ours.encode(text, bos), expected, JSON.stringify(text));
    }
  }
});

test('the tokenizer knows LLaVA\'s tokens and decodes byte-fallback pieces back to text', () => {
  const t = LlavaTokenizer.load(join(FIXTURES, 'tiny-hub'));
  assert.deepEqual([t.bosId, t.eosId, t.padId, t.id('<image>'), t.size], [1, 2, 401, 400, 402]);
  assert.equal(t.decode(t.encode('café 🙂', false)), 'café 🙂');
  assert.equal(t.decode([]), '', 'a greedy answer that stopped at its first token');
  assert.throws(() => t.id('<video>'), /no token "<video>"/);
});
