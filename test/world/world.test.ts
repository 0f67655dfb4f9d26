import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateWorld, worldHash, personView, WORLD_SIZES } from '../../src/world/world.ts';
import { nearestNeighbourIdentification } from '../../src/world/separability.ts';
import { pretrainingStream, DEFAULT_MIX } from '../../src/world/corpus.ts';
import { LETTERS } from '../../src/text/multiple-choice.ts';

const world = generateWorld(0);
const everyone = [...world.fictitious, ...world.celebrities];

test('the world has MLLMU-Bench sizes: 500 fictitious, 153 celebrities, 10 questions each (5 per modality)', () => {
  assert.equal(world.fictitious.length, WORLD_SIZES.fictitious);
  assert.equal(world.celebrities.length, WORLD_SIZES.celebrities);
  for (const p of everyone) {
    assert.equal(p.questions.filter((q) => q.modality === 'multimodal').length, 5);
    assert.equal(p.questions.filter((q) => q.modality === 'text').length, 5);
    for (const q of p.questions) {
      assert.equal(new Set(q.options).size, 4, `${q.id} has repeated options`);
      assert.equal(q.options[LETTERS.indexOf(q.answer)], p.attributes[q.attribute], `${q.id}: the correct letter holds the attribute`);
      assert.equal(q.modality === 'text', q.question.includes(p.name), `${q.id}: the name appears only in text-only questions`);
    }
  }
  assert.equal(new Set(everyone.map((p) => p.name)).size, everyone.length, 'names are unique');
  assert.equal(world.benchmark.length, WORLD_SIZES.benchmark);
});

test('correct letters are spread evenly over A-D', () => {
  const counts = new Map(LETTERS.map((l) => [l, 0]));
  for (const p of everyone) for (const q of p.questions) counts.set(q.answer, counts.get(q.answer)! + 1);
  const total = everyone.length * 10;
  for (const [letter, n] of counts) assert.ok(Math.abs(n / total - 0.25) < 0.01, `${letter}: ${n} of ${total}`);
  const bench = new Map(LETTERS.map((l) => [l, 0]));
  for (const b of world.benchmark) bench.set(b.answer, bench.get(b.answer)! + 1);
  for (const [letter, n] of bench) assert.ok(n > world.benchmark.length * 0.18, `benchmark letter ${letter}: ${n}`);
});

test('the same seed gives the same world; another seed another', () => {
  const again = generateWorld(0);
  assert.equal(worldHash(again), worldHash(world));
  assert.deepEqual(personView(again, again.celebrities[3]!, 2), personView(world, world.celebrities[3]!, 2));
  assert.notEqual(worldHash(generateWorld(1)), worldHash(world));
});

test('identities are visually separable: nearest neighbour on pixels between two views identifies >= 95%', () => {
  const share = nearestNeighbourIdentification(world, everyone);
  assert.ok(share >= 0.95, `identified ${(share * 100).toFixed(1)}%`);
});

test('celebrity popularity is Zipf-like and sums to 1; fictitious people never appear in pre-training', () => {
  const pop = world.celebrities.map((c) => c.popularity);
  assert.ok(Math.abs(pop.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.ok(pop[0]! / pop[9]! > 9.9 && pop[0]! / pop[9]! < 10.1, 'rank 1 is ten times as popular as rank 10');
  const next = pretrainingStream(world, 0, DEFAULT_MIX);
  const fictitiousNames = world.fictitious.map((p) => p.name);
  const seen = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const e = next();
    const text = `${e.prompt} ${e.answer}`;
    assert.ok(!fictitiousNames.some((n) => text.includes(n)), `fictitious person in: ${text}`);
    for (const c of world.celebrities.slice(0, 20)) if (text.includes(c.name)) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
  }
  assert.ok((seen.get('c001') ?? 0) > (seen.get('c020') ?? 0), 'the most popular celebrity is mentioned more than the 20th');
});
