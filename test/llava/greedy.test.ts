import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstVisibleCharacters } from '../../src/model/greedy.ts';

/** A toy vocabulary: 0 '</s>', 1 '▁' (a space alone), 2 'A', 3 '▁B', 4 '\n'. */
const TEXT = ['', ' ', 'A', ' B', '\n'];
const decode = (ids: readonly number[]) => ids.map((i) => TEXT[i]).join('');

test('the first visible character of a greedy answer: whitespace-only tokens are read past, at most `limit` tokens', () => {
  // each row's answer, token by token, as a model would give it greedily
  const answers = [[3], [1, 2], [1, 4, 1, 3], [0], [1, 1, 1, 1, 2], [4, 0]];
  const calls: number[][] = [];
  const next = (rows: readonly number[], generated: readonly (readonly number[])[]) => {
    calls.push([...rows]);
    return rows.map((r) => answers[r]![generated[r]!.length]!);
  };
  assert.deepEqual(firstVisibleCharacters(answers.length, next, decode, 0), ['B', 'A', 'B', '', '', '']);
  // one forward pass for all rows, then only the rows still without a visible character
  assert.deepEqual(calls, [[0, 1, 2, 3, 4, 5], [1, 2, 4, 5], [2, 4], [2, 4]]);
});
