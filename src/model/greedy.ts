/**
 * The greedy decoding loop every model's generation shares: each step asks `next` for the most
 * probable next token of the rows still going, appends it, and drops a row once it emits `stop`,
 * reaches `limit` tokens, or `going(row, generated)` says it has what it needs. One call of
 * `next` per step serves all pending rows, so a model runs them as one batch.
 *
 * Returns each row's tokens, the `stop` token included when one came.
 */
export function greedyTokens(
  count: number,
  next: (rows: readonly number[], generated: readonly (readonly number[])[]) => number[],
  stop: number,
  limit: number,
  going: (row: number, generated: readonly number[]) => boolean = () => true,
): number[][] {
  const generated: number[][] = Array.from({ length: count }, () => []);
  let pending = generated.map((_, row) => row);
  for (let step = 0; step < limit && pending.length > 0; step++) {
    const tokens = next(pending, generated);
    pending.forEach((row, i) => generated[row]!.push(tokens[i]!));
    pending = pending.filter((row) => generated[row]!.at(-1) !== stop && going(row, generated[row]!));
  }
  return generated;
}

/** The tokens without the trailing stop token: the answer a generation decodes. */
export function withoutStop(tokens: readonly number[], stop: number): number[] {
  return tokens.at(-1) === stop ? tokens.slice(0, -1) : [...tokens];
}

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
