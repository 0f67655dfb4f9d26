import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitPeople, selectKnown } from '../../src/protocol/splits.ts';

const ids = Array.from({ length: 100 }, (_, i) => `p${i}`);

test('splits are disjoint, sized as asked, deterministic, and independent of input order', () => {
  const s = splitPeople(ids, { unlearn: 50, retain: 50, requests: 5 }, 7, 'fine_tuned');
  assert.equal(s.unlearn.length, 50);
  assert.equal(s.retain.length, 50);
  assert.equal(new Set([...s.unlearn, ...s.retain]).size, 100);
  assert.deepEqual(s.requests.flat(), s.unlearn);
  assert.deepEqual(s.requests.map((r) => r.length), [10, 10, 10, 10, 10]);
  assert.deepEqual(splitPeople([...ids].reverse(), { unlearn: 50, retain: 50, requests: 5 }, 7, 'fine_tuned'), s);
  assert.notDeepEqual(splitPeople(ids, { unlearn: 50, retain: 50, requests: 5 }, 8, 'fine_tuned').unlearn, s.unlearn);
  assert.throws(() => splitPeople(ids, { unlearn: 60, retain: 50, requests: 5 }, 7, 'x'), /only 100 available/);
  assert.throws(() => splitPeople(ids, { unlearn: 48, retain: 50, requests: 5 }, 7, 'x'), /do not split into 5 equal requests/);
});

test('selection keeps the best-known people by behaviour, above the threshold in both modalities', () => {
  const scores = [
    { id: 'a', multimodal: 100, text_only: 100 },
    { id: 'b', multimodal: 80, text_only: 100 },
    { id: 'c', multimodal: 100, text_only: 60 }, // below threshold in text: never kept
    { id: 'd', multimodal: 90, text_only: 90 },
    { id: 'e', multimodal: 90, text_only: 90 }, // tied with d: seeded tie-break
  ];
  const kept = selectKnown(scores, { keep: 4, threshold: 80 }, 1).map((s) => s.id);
  assert.equal(kept[0], 'a');
  assert.deepEqual(new Set(kept.slice(1, 3)), new Set(['d', 'e']));
  assert.equal(kept[3], 'b');
  assert.ok(!kept.includes('c'));
  assert.deepEqual(selectKnown(scores, { keep: 4, threshold: 80 }, 1), selectKnown([...scores].reverse(), { keep: 4, threshold: 80 }, 1));
  assert.equal(selectKnown(scores, { keep: 2, threshold: 95 }, 1).length, 1);
});
