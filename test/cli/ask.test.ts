import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const pulse = (...args: string[]) => {
  const r = spawnSync(process.execPath, [resolve('bin/pulse.js'), ...args, '--threads', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const LLAVA = 'test/fixtures/llava/tiny-hub';
const FACE = 'test/fixtures/llava/expected/face.png';

interface AskJson {
  model: { kind: string }; answer: string | null; most_likely: string;
  options: { letter: string; option: string; log_likelihood: number }[];
  next_tokens: { id: number; token: string; log_prob: number }[];
}

for (const [kind, model] of [['llava', LLAVA], ['embedded', 'assets/base.safetensors']] as const) {
  test(`pulse ask --json on a ${kind} model: the answer, each option's log-likelihood, the 20 most probable next tokens`, () => {
    const r = pulse('ask', '--model', model, '--image', FACE, '--question', 'Who is this person?', '--options', 'Ann|Bob|Cy|Di', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as AskJson;
    assert.equal(out.model.kind, kind);
    assert.deepEqual(out.options.map((o) => o.letter), ['A', 'B', 'C', 'D']);
    for (const o of out.options) assert.ok(o.log_likelihood < 0 && Number.isFinite(o.log_likelihood));
    const best = out.options.reduce((a, b) => (b.log_likelihood > a.log_likelihood ? b : a));
    assert.equal(out.most_likely, best.letter);
    assert.equal(out.next_tokens.length, 20);
    const probs = out.next_tokens.map((t) => t.log_prob);
    assert.deepEqual(probs, [...probs].sort((a, b) => b - a), 'most probable first');
    assert.ok(probs.reduce((s, p) => s + Math.exp(p), 0) <= 1 + 1e-5);
    // letter scoring reads the greedy token: the answer is its first character when that is a letter
    // (a token of whitespace alone would send it on to the next token)
    const first = out.next_tokens[0]!.token.trimStart().charAt(0);
    if (first !== '') assert.equal(out.answer, ['A', 'B', 'C', 'D'].includes(first) ? first : null);
  });
}

test('pulse ask prints a readable answer; bad options and a missing image are one line', () => {
  const r = pulse('ask', '--model', LLAVA, '--question', 'What is the capital of France?', '--options', 'Paris|Rome');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^model tiny-hub \(llava\)\nanswer: .+\nlog-likelihood of each option/);
  assert.match(r.stdout, /A: Paris/);
  const bad = pulse('ask', '--model', LLAVA, '--question', 'q', '--options', 'only one');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^pulse: option '--options <list>' argument 'only one' is invalid\. expected 2 to 4 non-empty options/);
  const missing = pulse('ask', '--model', LLAVA, '--image', 'no.png', '--question', 'q', '--options', 'a|b');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^pulse: no\.png: no such file \(--image\)\n$/);
  const unknown = pulse('ask', '--model', 'README.md', '--question', 'q', '--options', 'a|b');
  assert.match(unknown.stderr, /^pulse: README\.md: not a model pulse recognises/);
});

test('pulse eval scores a LLaVA folder on an MMBench TSV, by modality, in letter mode', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeMmbenchTsv } = await import('../../src/data/mmbench.ts');
  const tsv = join(mkdtempSync(join(tmpdir(), 'pulse-eval-')), 'mmbench.tsv');
  const image = readFileSync(FACE);
  await writeMmbenchTsv(tsv, [0, 1, 2].map((index) => ({
    index, question: `Question ${index}?`, hint: '', options: ['red', 'green', 'blue', 'grey'], answer: 'B' as const, category: 'c', l2Category: 'l', image,
  })));
  const r = pulse('eval', '--model', LLAVA, '--set', tsv, '--mode', 'letter', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, { overall: number; multimodal: number; text_only: number | null; n: number }>;
  assert.equal(out[tsv]!.n, 3);
  assert.equal(out[tsv]!.text_only, null);
  assert.ok(out[tsv]!.overall >= 0 && out[tsv]!.overall <= 100);
});
