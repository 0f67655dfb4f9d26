import { greedyTokens } from '../greedy.ts';

/**
 * MLLMU-Bench scores the first character of the model's greedy answer, stripped of leading
 * whitespace. A Llama tokenizer can answer with a token that is whitespace alone ("▁") before the
 * letter, so the first token is not always enough: rows whose answer so far decodes to whitespace
 * only are extended greedily, by at most `limit` tokens in all, or until `stop` (end of sequence).
 *
 * `next(rows, generated)` gives the greedy next token of each listed row, its answer so far being
 * `generated[row]`. Returns each row's first visible character ('' when none came).
 */
export function firstVisibleCharacters(
  count: number,
  next: (rows: readonly number[], generated: readonly (readonly number[])[]) => number[],
  decode: (ids: readonly number[]) => string,
  stop: number,
  limit = 4,
): string[] {
  const visible = (ids: readonly number[]) => decode(ids).trimStart();
  return greedyTokens(count, next, stop, limit, (_, ids) => visible(ids) === '').map((ids) => visible(ids).charAt(0));
}
