import { createHash } from 'node:crypto';

/** A 32-bit seed derived from a master seed and labels, so every phase has its own stream. */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  return createHash('sha256').update([seed, ...labels].join('\u0000')).digest().readUInt32LE(0);
}

/** mulberry32: small, fast, and the same sequence on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Draws items without replacement, reshuffling a fresh pass whenever one runs out. */
export function endlessShuffle<T>(items: readonly T[], random: () => number): () => T {
  let order: T[] = [];
  return () => {
    if (order.length === 0) order = shuffled(items, random);
    return order.pop()!;
  };
}
