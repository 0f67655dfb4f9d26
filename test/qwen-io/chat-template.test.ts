import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PulseError } from '../../src/errors.ts';
import { ChatTemplate, mllmuQuestionBody, type ChatMessage } from '../../src/model/hf/chat-template.ts';
import { letterQuestion } from '../../src/model/llava/prompt.ts';
import { FIXTURES, readFixtureJson } from './helpers.ts';

// Made by scripts/qwen-io-fixtures.py: transformers 5.18's apply_chat_template with each folder's template.
interface ChatCase { folder: string; name: string; messages: ChatMessage[]; addGenerationPrompt: boolean; rendered: string }
const fixture = readFixtureJson('chat-cases.json') as {
  questions: { question: string; options: string[]; answer: string }[]; bodies: string[];
  specialTokensMap: Record<string, Record<string, string>>; cases: ChatCase[];
};
const IMAGE_TOKENS: Record<string, string> = { 'qwen2-vl': '<|image_pad|>', 'qwen2.5-vl': '<|image_pad|>', 'llava-1.5': '<image>' };
const load = (folder: string) => ChatTemplate.load(join(FIXTURES, folder), IMAGE_TOKENS[folder]!);
const rendered = (folder: string, name: string) => fixture.cases.find((c) => c.folder === folder && c.name === name)!.rendered;

function expectPulseError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PulseError && pattern.test(e.message) && !e.message.includes('\n'));
}

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'chat-template-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

/** A folder holding `files` (name -> text). */
function folderWith(files: Record<string, string>): string {
  const folder = mkdtempSync(join(dir, 'f-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  return folder;
}

for (const folder of Object.keys(IMAGE_TOKENS)) {
  test(`${folder}: every conversation renders as apply_chat_template renders it`, () => {
    const template = load(folder);
    assert.ok(template.source.endsWith(join(folder, 'chat_template.json')), 'chat_template.json comes before tokenizer_config.json\'s');
    const cases = fixture.cases.filter((c) => c.folder === folder);
    assert.equal(cases.length, 10);
    for (const c of cases) assert.equal(template.render(c.messages, c.addGenerationPrompt), c.rendered, c.name);
  });
}

test('the question body is MLLMU-Bench\'s, the same text LLaVA\'s prompt uses', () => {
  fixture.questions.forEach((q, i) => {
    assert.equal(mllmuQuestionBody(q), fixture.bodies[i]);
    assert.equal(mllmuQuestionBody(q), letterQuestion(q));
  });
});

test('Qwen prompts: the image, then the question body, with the default system message and the generation prompt', () => {
  for (const folder of ['qwen2-vl', 'qwen2.5-vl']) {
    const template = load(folder);
    const [multimodal, text] = fixture.questions;
    assert.equal(template.prompt(mllmuQuestionBody(multimodal!), 1), rendered(folder, 'question-image'));
    assert.equal(template.prompt(mllmuQuestionBody(text!), 0), rendered(folder, 'question-text'));
    assert.ok(template.prompt('Who?', 1).startsWith('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Who?'));
  }
});

test('training text: the prompt, the answer, <|im_end|> for Qwen; as the rendered conversation has them', () => {
  const qwen = load('qwen2.5-vl');
  const [q0, q1] = fixture.questions;
  assert.deepEqual(qwen.answerTurn, { prefix: '', end: '<|im_end|>' });
  const row = qwen.trainingText(mllmuQuestionBody(q0!), 1, q0!.answer);
  assert.equal(row.completion, `${q0!.answer}<|im_end|>`);
  // transformers renders the assistant turn with a newline after <|im_end|>, which is not trained.
  assert.equal(`${row.prompt}${row.completion}\n`, rendered('qwen2.5-vl', 'training-image'));
  const text = qwen.trainingText(q1!.question, 0, q1!.answer);
  assert.equal(`${text.prompt}${text.completion}\n`, rendered('qwen2.5-vl', 'training-text'));
});

test('LLaVA\'s own template works through the same module: <image>, a space before the answer, </s> after it', () => {
  const llava = load('llava-1.5');
  const [q0] = fixture.questions;
  assert.equal(llava.prompt(mllmuQuestionBody(q0!), 1), rendered('llava-1.5', 'question-image'));
  // Its assistant turn is "ASSISTANT: {answer} " ({% generation %} renders its body): nothing ends it, so the eos_token does.
  assert.deepEqual(llava.answerTurn, { prefix: ' ', end: '</s>' });
  const row = llava.trainingText(mllmuQuestionBody(q0!), 1, q0!.answer);
  assert.equal(`${row.prompt} ${q0!.answer} `, rendered('llava-1.5', 'training-image'));
  assert.equal(row.completion, ` ${q0!.answer}</s>`);
});

test('the special tokens reach the template as transformers passes them (tokenizer_config.json, special_tokens_map.json)', () => {
  const show = '{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ pad_token }}';
  for (const folder of Object.keys(IMAGE_TOKENS)) {
    const copy = folderWith({ 'chat_template.jinja': show });
    for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
      try { copyFileSync(join(FIXTURES, folder, f), join(copy, f)); } catch { /* Qwen's folders have no special_tokens_map.json */ }
    }
    const map = fixture.specialTokensMap[folder]!;
    const expected = [map.bos_token, map.eos_token, map.unk_token, map.pad_token].map((t) => t ?? '').join('|');
    assert.equal(ChatTemplate.load(copy, '<image>').render([], false), expected, folder);
  }
});

test('the template is found where transformers looks: processor_config.json, chat_template.json, chat_template.jinja, tokenizer_config.json', () => {
  const files: Record<string, string> = {
    'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: 'TOKENIZER' }] }),
  };
  const order: [string, string, string][] = [
    ['tokenizer_config.json', '', 'TOKENIZER'],
    ['chat_template.jinja', 'JINJA', 'JINJA'],
    ['chat_template.json', JSON.stringify({ chat_template: 'JSON' }), 'JSON'],
    ['processor_config.json', JSON.stringify({ chat_template: 'PROCESSOR', processor_class: 'Qwen2VLProcessor' }), 'PROCESSOR'],
  ];
  for (const [file, text, expected] of order) {
    if (text) files[file] = text;
    const template = ChatTemplate.load(folderWith(files), '<image>');
    assert.equal(template.render([], false), expected);
    assert.ok(template.source.endsWith(file));
  }
});

test('a folder without a template, or a template that renders no image placeholder, is one line', () => {
  expectPulseError(() => ChatTemplate.load(folderWith({ 'tokenizer_config.json': '{"eos_token": "</s>"}' }), '<image>'),
    /: no chat template \(looked for chat_template\.json, chat_template\.jinja and the chat_template of processor_config\.json and tokenizer_config\.json\)$/);
  const textOnly = folderWith({ 'chat_template.jinja': "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}" });
  const template = ChatTemplate.load(textOnly, '<|image_pad|>');
  assert.equal(template.prompt('Who?', 0), 'Who?');
  expectPulseError(() => template.prompt('Who?', 1), /chat_template\.jinja: the chat template renders no <\|image_pad\|> for an image message$/);
  // LLaVA's template renders <image>, not Qwen's placeholder.
  expectPulseError(() => ChatTemplate.load(join(FIXTURES, 'llava-1.5'), '<|image_pad|>').prompt('Who?', 1), /renders no <\|image_pad\|>/);
  expectPulseError(() => load('qwen2.5-vl').prompt('What is <|image_pad|>?', 1), /holds the image placeholder <\|image_pad\|> in its text$/);
});

test('a template that does not parse, raises, or cannot place an answer is one line naming its file', () => {
  expectPulseError(() => ChatTemplate.load(folderWith({ 'chat_template.jinja': '{% for m in messages %}' }), '<image>'),
    /chat_template\.jinja: the chat template cannot be parsed/);
  const raising = ChatTemplate.load(folderWith({ 'chat_template.jinja': "{{ raise_exception('Only user and assistant roles are supported!') }}" }), '<image>');
  expectPulseError(() => raising.render([], false), /chat_template\.jinja: the chat template failed to render \(.*Only user and assistant roles are supported!/);
  const noAnswer = ChatTemplate.load(folderWith({ 'chat_template.jinja': "{% for m in messages %}{% if m.role == 'user' %}<image>{% endif %}{% endfor %}" }), '<image>');
  expectPulseError(() => noAnswer.trainingText('Q', 1, 'A'), /the chat template's assistant turn does not follow its generation prompt/);
  expectPulseError(() => ChatTemplate.load(folderWith({ 'chat_template.json': '{"chat_template": 3}' }), '<image>'), /chat_template\.json: chat_template: expected the template's text$/);
});
