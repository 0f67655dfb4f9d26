import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clozeMatch, lcsLength, normalizeCloze, rougeL, rougeTokens } from '../../src/metrics/rouge.ts';

const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} vs ${expected}`);

test("ROUGE-L tokens as rouge_score's tokenizer makes them: lower-case, runs of a-z0-9 only", () => {
  assert.deepEqual(rougeTokens('Works as a Software-Engineer!'), ['works', 'as', 'a', 'software', 'engineer']);
  // "ã" is not in a-z: it separates, as it does in rouge_score
  assert.deepEqual(rougeTokens('São Paulo, 1990.'), ['s', 'o', 'paulo', '1990']);
  assert.deepEqual(rougeTokens(' .,; '), []);
});

test('LCS length, worked by hand', () => {
  // a b c d against a c d b: "a c d" is common and in order, no 4 are
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'b']), 3);
  assert.equal(lcsLength(['x'], ['y']), 0);
  assert.equal(lcsLength([], ['y']), 0);
});

test('ROUGE-L F-measure against hand-worked values', () => {
  // ref "works as a software engineer" (5), answer "She works as an engineer" (5): LCS "works as engineer" = 3
  // P = 3/5, R = 3/5, F = 2·0.6·0.6/1.2 = 0.6
  near(rougeL('works as a software engineer', 'She works as an engineer'), 0.6);
  // ref "the cat sat on the mat" (6), answer "the cat on mat" (4): LCS = 4, P = 4/4 = 1, R = 4/6 = 2/3
  // F = 2·1·(2/3)/(1 + 2/3) = (4/3)/(5/3) = 0.8
  near(rougeL('the cat sat on the mat', 'the cat on mat'), 0.8);
  // word order counts: "red green blue" vs "blue green red" share one word in order: P = R = 1/3, F = 1/3
  near(rougeL('red green blue', 'blue green red'), 1 / 3);
  near(rougeL('Lakeview', 'lakeview.'), 1);
  assert.equal(rougeL('Lakeview', ''), 0);
  assert.equal(rougeL('Lakeview', 'Oslo'), 0);
});

test('cloze exact match: case, surrounding punctuation and whitespace are ignored, nothing else', () => {
  assert.equal(normalizeCloze('  Software   Engineer!  '), 'software engineer');
  assert.equal(clozeMatch('Lakeview', ' lakeview. '), 1);
  assert.equal(clozeMatch('software engineer', '"Software  engineer"'), 1);
  // inner punctuation stays: "St. Louis" is not "St Louis"
  assert.equal(clozeMatch('St. Louis', 'st. louis'), 1);
  assert.equal(clozeMatch('St. Louis', 'St Louis'), 0);
  assert.equal(clozeMatch('software engineer', 'engineer'), 0);
  assert.equal(clozeMatch('Lakeview', 'Lake view'), 0);
});
