/**
 * Open-ended answer scores as MLLMU-Bench computes them. Its evaluation (eval/eval.py,
 * `evaluate_generation`) scores each greedy answer with Google's rouge_score package,
 * `RougeScorer(['rougeL'], use_stemmer=True).score(ground_truth, answer)['rougeL'].fmeasure`, and
 * reports the mean F-measure per question type (Image_Textual, Pure_Text).
 */

/**
 * rouge_score's default tokenizer: lower-case, every run of characters other than a-z and 0-9
 * separates, empty pieces are dropped (so "São" gives "s", "o", as it does there). MLLMU-Bench
 * also Porter-stems words longer than 3 characters; pulse does not stem (no stemmer ships here),
 * so "lives" and "live" differ: ROUGE-L can come out lower than MLLMU-Bench's on inflected words.
 */
export function rougeTokens(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t.length > 0);
}

/** Length of the longest common subsequence of two token lists (dynamic programming, one row kept). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    const row = [0];
    // row[j] = LCS(a up to x, b[0..j)): extend a match on the diagonal, else the longer neighbour
    b.forEach((y, j) => row.push(x === y ? previous[j]! + 1 : Math.max(previous[j + 1]!, row[j]!)));
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * ROUGE-L F-measure of an answer against the reference, in [0, 1]:
 *   P = LCS(ref, ans)/|ans|,  R = LCS(ref, ans)/|ref|,  F = 2·P·R/(P + R)  (0 when LCS = 0 or either is empty),
 * |·| in tokens (rougeTokens).
 */
export function rougeL(reference: string, answer: string): number {
  const [ref, ans] = [rougeTokens(reference), rougeTokens(answer)];
  if (ref.length === 0 || ans.length === 0) return 0;
  const lcs = lcsLength(ref, ans);
  if (lcs === 0) return 0;
  const [precision, recall] = [lcs / ans.length, lcs / ref.length];
  return (2 * precision * recall) / (precision + recall);
}

/** A cloze answer as compared: lower-case, punctuation and whitespace stripped from both ends, inner whitespace runs as one space. */
export function normalizeCloze(text: string): string {
  return text.toLowerCase().replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '').replace(/\s+/g, ' ');
}

/** Cloze exact match: 1 when the answer is the blank's ground truth once both are normalised (normalizeCloze), else 0. */
export function clozeMatch(groundTruth: string, answer: string): number {
  return normalizeCloze(groundTruth) === normalizeCloze(answer) ? 1 : 0;
}
