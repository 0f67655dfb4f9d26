import { test } from 'node:test';
import assert from 'node:assert/strict';
import { membershipAuc, minKPercentScore } from '../../src/metrics/auc.ts';
import { rng } from '../../src/random.ts';

const close = (actual: number | null, expected: number, tol = 1e-12) =>
  assert.ok(actual !== null && Math.abs(actual - expected) <= tol, `${actual} is not within ${tol} of ${expected}`);

/** The definition itself: over all m·n pairs, member < non-member counts 1, equal counts ½. */
function naiveAuc(members: readonly number[], nonMembers: readonly number[]): number {
  let wins = 0;
  for (const a of members) for (const b of nonMembers) wins += a < b ? 1 : a === b ? 0.5 : 0;
  return wins / (members.length * nonMembers.length);
}

test('perfect separation, reversed, identical', () => {
  // every member (1, 2, 3) is below every non-member (4, 5): 6 of 6 pairs -> 1
  assert.equal(membershipAuc([1, 2, 3], [4, 5]), 1);
  // every member is above every non-member: 0 of 6 pairs -> 0
  assert.equal(membershipAuc([4, 5, 6], [1, 2]), 0);
  // identical sets [1, 2, 3] vs [1, 2, 3]: 9 pairs; member < non-member in 3 (1<2, 1<3, 2<3), equal in 3 (½ each),
  // greater in 3 -> (3 + 1.5) / 9 = 0.5
  assert.equal(membershipAuc([1, 2, 3], [1, 2, 3]), 0.5);
  // all scores tied: every pair counts ½ -> 0.5
  assert.equal(membershipAuc([7, 7], [7, 7, 7]), 0.5);
});

test('ties counted by hand', () => {
  // members [1, 2, 2, 4], non-members [2, 3, 5]: 4·3 = 12 pairs
  //   member 1: < 2, < 3, < 5          -> 3
  //   member 2: = 2 (½), < 3, < 5      -> 2.5
  //   member 2: same                   -> 2.5
  //   member 4: > 2, > 3, < 5          -> 1
  //   total 9 -> 9 / 12 = 0.75
  // Ranks: 1(m)=1; 2,2,2 (m,m,n) share ranks 2..4 -> 3; 3(n)=5; 4(m)=6; 5(n)=7.
  //   R_nonmember = 3 + 5 + 7 = 15; U = 15 - 3·4/2 = 9 -> 9 / 12 = 0.75
  assert.equal(membershipAuc([1, 2, 2, 4], [2, 3, 5]), 0.75);
  assert.equal(naiveAuc([1, 2, 2, 4], [2, 3, 5]), 0.75);
  // swapping the roles gives the complement: 1 - 0.75
  assert.equal(membershipAuc([2, 3, 5], [1, 2, 2, 4]), 0.25);
});

test('agrees with the O(mn) definition on seeded data with many ties', () => {
  for (const seed of [1, 2, 3, 42]) {
    const random = rng(seed);
    // one decimal on [0, 3) -> only 30 distinct values among 120 scores, so ties are everywhere
    const draw = (shift: number) => Math.round((random() * 3 + shift) * 10) / 10;
    const members = Array.from({ length: 50 }, () => draw(0));
    const nonMembers = Array.from({ length: 70 }, () => draw(0.4));
    close(membershipAuc(members, nonMembers), naiveAuc(members, nonMembers));
    close(membershipAuc(nonMembers, members), 1 - naiveAuc(members, nonMembers));
  }
});

test('empty set -> null; non-finite -> RangeError naming the value', () => {
  assert.equal(membershipAuc([], [1, 2]), null);
  assert.equal(membershipAuc([1], []), null);
  assert.equal(membershipAuc([], []), null);
  assert.throws(() => membershipAuc([1, NaN], [2]), (e: unknown) => e instanceof RangeError && /NaN/.test(e.message));
  assert.throws(() => membershipAuc([1], [Infinity]), (e: unknown) => e instanceof RangeError && /Infinity/.test(e.message));
  assert.throws(() => membershipAuc([], [NaN]), RangeError); // checked before the empty-set answer
});

test('Min-K%: mean of the k% lowest log-probabilities, negated', () => {
  // k = 50 of 4 tokens -> ceil(2) = 2 lowest: -8, -5 -> mean -6.5 -> 6.5
  assert.equal(minKPercentScore([-1, -5, -2, -8], 50), 6.5);
  // k = 100 -> all 4: (-1 - 5 - 2 - 8) / 4 = -16 / 4 = -4 -> 4
  assert.equal(minKPercentScore([-1, -5, -2, -8], 100), 4);
  // input not reordered
  const lp = [-1, -5, -2, -8];
  minKPercentScore(lp, 50);
  assert.deepEqual(lp, [-1, -5, -2, -8]);
});

test('Min-K%: kept count is ceil(k·n/100), at least 1', () => {
  const lp = [-1, -5, -2, -8]; // sorted: -8, -5, -2, -1
  // k = 20: 0.8 tokens -> ceil 1 -> -8 -> 8
  assert.equal(minKPercentScore(lp, 20), 8);
  // k = 1e-9: rounds up to 1 token, never 0
  assert.equal(minKPercentScore(lp, 1e-9), 8);
  // k = 26: 1.04 -> ceil 2 -> (-8 - 5) / 2 -> 6.5
  assert.equal(minKPercentScore(lp, 26), 6.5);
  // k = 75: exactly 3 -> (-8 - 5 - 2) / 3 = -5 -> 5
  assert.equal(minKPercentScore(lp, 75), 5);
  // k = 7, n = 100: 7·100/100 = 7 exactly ((7/100)·100 in floating point is 7.000000000000001 and would keep 8)
  const hundred = Array.from({ length: 100 }, (_, i) => -(i + 1)); // -1 .. -100
  assert.equal(minKPercentScore(hundred, 7), 97); // lowest 7: -100 .. -94, mean -97
  // one token: any k keeps it
  assert.equal(minKPercentScore([-3], 1), 3);
});

test('Min-K%: bad arguments -> RangeError', () => {
  assert.throws(() => minKPercentScore([-1], 0), RangeError);
  assert.throws(() => minKPercentScore([-1], 101), RangeError);
  assert.throws(() => minKPercentScore([-1], NaN), RangeError);
  assert.throws(() => minKPercentScore([], 50), RangeError);
  assert.throws(() => minKPercentScore([-1, NaN], 50), (e: unknown) => e instanceof RangeError && /NaN/.test(e.message));
});
