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
