import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { PulseError } from '../../src/errors.ts';
import { rng } from '../../src/random.ts';
import { Qwen2Tokenizer } from '../../src/model/qwen2-vl/tokenizer.ts';
import { FIXTURES, qwenTokenizerJson, readFixtureJson, type QwenFolder } from './helpers.ts';

/**
 * pulse tokenizes with @huggingface/tokenizers (JavaScript). The references: the Rust library
 * itself through its Node binding (`tokenizers`), on the real Qwen2 vocabulary, and transformers'
 * Qwen2 tokenizer on the rendered chat prompts of test/fixtures/qwen-io/chat-cases.json.
 */
const PIECES = [
  'Who', ' is', ' this', ' person', '?', '\n', '\n\n', ' A', ': ', 'B: ', 'café', ' naïve', ' Zoë', 'Ångström-Müller', ' São Paulo',
  ' 日本', '语', '这个人', '？', ' 🙂', '👩‍🔬', '🏔️', ' 1987', '3.14', '2001:', '  ', '\t', ' — ', '"quoted"', "it's", " O'Neil", "'S", ' e\u0301',
  ' Ω', 'ß', 'İ', '\u00a0', '...', '(a|b)', '{{ x }}', '{% raw %}', '\\', '\r\n', ' Reykjavík', ' Kraków', ' Düsseldorf', 'x'.repeat(30),
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|vision_start|>', '<|image_pad|>', '<|vision_end|>', '<|video_pad|>',
  '<tool_call>', '<|file_sep|>', '<think>', 'user\n', 'assistant\n', 'system\nYou are a helpful assistant.', '<|im_start', 'im_end|>',
  'Just give ONE letter representing the answer directly.', 'مرحبا', 'Привет', ' नमस्ते', '한국어', '0x1F', '12345678901234567890',
];

const { bodies, cases: chatCases } = readFixtureJson('chat-cases.json') as {
  bodies: string[]; cases: { folder: string; name: string; rendered: string; ids: number[] | null }[];
};

function strings(count: number): string[] {
  const random = rng(19);
  const out = ['', ' ', '\n', '<|image_pad|>', ...bodies, ...chatCases.map((c) => c.rendered), '  leading', 'trailing  ', 'a\n\n\nb'];
  while (out.length < count) {
    const n = 1 + Math.floor(random() * 9);
    out.push(Array.from({ length: n }, () => PIECES[Math.floor(random() * PIECES.length)]!).join(''));
  }
  return out;
}

// Building a tokenizer over the 151,643 pieces takes seconds: each is built once for the file.
let dir: string;
const tokenizers = {} as Record<QwenFolder, Qwen2Tokenizer>;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'qwen-tokenizer-'));
  // Qwen2.5-VL as a model folder (the derived tokenizer.json and the fixture's tokenizer_config.json), which
  // the Rust library reads too; Qwen2-VL from the parsed files.
  const folder = join(dir, 'qwen2.5-vl');
  mkdirSync(folder);
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(qwenTokenizerJson('qwen2.5-vl')));
  copyFileSync(join(FIXTURES, 'qwen2.5-vl', 'tokenizer_config.json'), join(folder, 'tokenizer_config.json'));
  tokenizers['qwen2.5-vl'] = Qwen2Tokenizer.load(folder);
  const config = readFixtureJson('qwen2-vl/tokenizer_config.json');
  tokenizers['qwen2-vl'] = Qwen2Tokenizer.fromJson(qwenTokenizerJson('qwen2-vl'), config, 'qwen2-vl/tokenizer.json');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('Qwen2.5-VL: token ids equal the Rust tokenizers library\'s on 320 strings (names, digits, Unicode, chat markup, question bodies)', async () => {
  const ours = tokenizers['qwen2.5-vl'];
  const rust = RustTokenizer.fromFile(join(dir, 'qwen2.5-vl', 'tokenizer.json'));
  const texts = strings(320);
  for (const text of texts) {
    const expected = (await rust.encode(text, null, { addSpecialTokens: false })).getIds();
    assert.deepEqual(ours.encode(text), expected, JSON.stringify(text));
  }
  // Decoding too, with and without special tokens: partial UTF-8 pieces, ids past the file's last token.
  const random = rng(5);
  const idLists = [[144], [40, 144, 41], [151645, 198], [151700], [152063, 40], ...texts.slice(0, 60).map((t) => ours.encode(t))];
  for (let i = 0; i < 40; i++) idLists.push(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * 151665)));
  for (const ids of idLists.filter((l) => l.length > 0)) {
    for (const skip of [false, true]) assert.equal(ours.decode(ids, { skipSpecial: skip }), await rust.decode(ids, skip), JSON.stringify(ids));
  }
});

test('the rendered chat prompts tokenize as transformers\' Qwen2 tokenizer tokenizes them (Qwen2-VL and Qwen2.5-VL)', () => {
  for (const name of ['qwen2-vl', 'qwen2.5-vl'] as const) {
    const ours = tokenizers[name];
    const cases = chatCases.filter((c) => c.folder === name);
    assert.ok(cases.length >= 10);
    for (const c of cases) assert.deepEqual(ours.encode(c.rendered), c.ids, `${name} ${c.name}`);
  }
});

test('special tokens by content: the ids Qwen2-VL and Qwen2.5-VL have, and the token counts', () => {
  const expected = { imagePad: 151655, visionStart: 151652, visionEnd: 151653, imStart: 151644, imEnd: 151645, endOfText: 151643 };
  const { 'qwen2-vl': qwen2, 'qwen2.5-vl': qwen25 } = tokenizers;
  assert.deepEqual(qwen2.special, expected);
  assert.deepEqual(qwen25.special, expected);
  // 151,643 pieces, then 14 (Qwen2-VL) or 22 (Qwen2.5-VL) added tokens.
  assert.deepEqual([qwen2.size, qwen25.size], [151657, 151665]);
  // <tool_call> is an added token of Qwen2.5-VL only; Qwen2-VL spells it out.
  assert.deepEqual(qwen25.encode('<tool_call>'), [151657]);
  assert.ok(qwen2.encode('<tool_call>').length > 1);
  assert.equal(qwen25.decode([]), '', 'a greedy answer that stopped at its first token');
  assert.equal(qwen25.decode([151644, 872, 198, 151645], { skipSpecial: true }), 'user\n');
  assert.equal(qwen25.decode(qwen25.encode('café 🙂 <|im_end|>')), 'café 🙂 <|im_end|>');
});

test('each image\'s <|image_pad|> is repeated as many times as the image has tokens', () => {
  const t = tokenizers['qwen2.5-vl'];
  const { imagePad: p, visionStart: s, visionEnd: e } = t.special;
  assert.deepEqual(t.expandImagePads([1, s, p, e, 2, s, p, e, 3], [3, 1]), [1, s, p, p, p, e, 2, s, p, e, 3]);
  assert.deepEqual(t.expandImagePads([1, 2], []), [1, 2]);
  assert.throws(() => t.expandImagePads([s, p, e], [4, 4]), (x: unknown) => x instanceof PulseError && /has 1 <\|image_pad\|> token for 2 images/.test(x.message));
});

test('a folder without tokenizer.json, or one that is not Qwen\'s, is one line naming the file', () => {
  const empty = mkdtempSync(join(dir, 'empty-'));
  assert.throws(() => Qwen2Tokenizer.load(empty), (e: unknown) => e instanceof PulseError && /tokenizer\.json: missing: the folder has no tokenizer\.json$/.test(e.message));
  // The tiny LLaVA's tokenizer has no Qwen chat tokens.
  const llava = join(import.meta.dirname, '..', 'fixtures', 'llava', 'tiny-hub');
  assert.throws(() => Qwen2Tokenizer.load(llava), (e: unknown) => e instanceof PulseError && /tiny-hub\/tokenizer\.json: no token "<\|image_pad\|>": not a Qwen2-VL tokenizer$/.test(e.message));
  assert.throws(() => Qwen2Tokenizer.fromJson({ model: {} }, {}, 'x.json'), (e: unknown) => e instanceof PulseError && /^x\.json: no vocabulary/.test(e.message));
});
