function checkFinite(values: readonly number[], what: string): void {
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`${what} must be finite, got ${v}`);
}

/**
 * Area under the ROC curve of a score that should be LOWER for members (e.g. a per-token NLL: a model's loss is
 * lower on what it was trained on): AUC = P(s_member < s_nonmember) + ½·P(s_member = s_nonmember), the
 * Mann-Whitney U statistic divided by n_member·n_nonmember. 0.5: the score cannot tell the two sets apart;
 * 1: every member scores below every non-member. null when either set is empty.
 */
export function membershipAuc(members: readonly number[], nonMembers: readonly number[]): number | null {
  checkFinite(members, 'member scores');
  checkFinite(nonMembers, 'non-member scores');
  const m = members.length;
  const n = nonMembers.length;
  if (m === 0 || n === 0) return null;
  const pooled = [
    ...members.map((score) => ({ score, member: true })),
    ...nonMembers.map((score) => ({ score, member: false })),
  ].sort((a, b) => a.score - b.score);
  // With ascending ranks, a non-member's rank minus its rank among non-members counts the members below it, and a
  // tied block's midrank credits each member-non-member tie ½. So U = R_nonmember - n(n+1)/2 counts exactly the
  // pairs with s_member < s_nonmember (+½ per tie), in one sort instead of m·n comparisons.
  let rankSum = 0;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j < pooled.length && pooled[j]!.score === pooled[i]!.score) j++;
    const midrank = (i + 1 + j) / 2; // ranks i+1 .. j share their mean
    for (let t = i; t < j; t++) if (!pooled[t]!.member) rankSum += midrank;
    i = j;
  }
  const u = rankSum - (n * (n + 1)) / 2;
  return u / (m * n);
}

/**
 * Min-K% (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models"): the mean of the k% lowest token
 * log-probabilities of a sequence, negated so that, like a loss, it is lower for members. k in (0, 100]; at least one
 * token. The number of tokens kept is ceil(k·n/100), so any k > 0 keeps at least one; k·n is divided by 100 last so
 * that e.g. k = 7, n = 100 gives exactly 7 ((7/100)·100 is 7.000000000000001 and would round up to 8).
 */
export function minKPercentScore(tokenLogProbs: readonly number[], k: number): number {
  if (!(k > 0 && k <= 100)) throw new RangeError(`k must be in (0, 100], got ${k}`);
  if (tokenLogProbs.length === 0) throw new RangeError('Min-K% needs at least one token log-probability');
  checkFinite(tokenLogProbs, 'token log-probabilities');
  const count = Math.max(1, Math.ceil((k * tokenLogProbs.length) / 100));
  const lowest = [...tokenLogProbs].sort((a, b) => a - b).slice(0, count);
  return -lowest.reduce((sum, v) => sum + v, 0) / count;
}
