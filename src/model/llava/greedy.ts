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
  const generated: number[][] = Array.from({ length: count }, () => []);
  const visible = (row: number) => decode(generated[row]!).trimStart();
  let pending = generated.map((_, row) => row);
  for (let step = 0; step < limit && pending.length > 0; step++) {
    const tokens = next(pending, generated);
    pending.forEach((row, i) => generated[row]!.push(tokens[i]!));
    pending = pending.filter((row) => generated[row]!.at(-1) !== stop && visible(row) === '');
  }
  return generated.map((_, row) => visible(row).charAt(0));
}
