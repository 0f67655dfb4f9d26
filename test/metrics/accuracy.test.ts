import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, forgotten, retained, relativeScores, type Outcome } from '../../src/metrics/accuracy.ts';

test('accuracy by modality, in percent, null where a modality has no question', () => {
  const o = (modality: Outcome['modality'], correct: boolean): Outcome => ({ modality, correct });
  // 3 of 4 multimodal right (75%), 1 of 2 text right (50%): overall 4 of 6
  assert.deepEqual(accuracy([o('multimodal', true), o('multimodal', true), o('multimodal', false), o('multimodal', true), o('text', true), o('text', false)]),
    { overall: (100 * 4) / 6, multimodal: 75, text_only: 50, n: 6 });
  assert.deepEqual(accuracy([o('multimodal', false)]), { overall: 0, multimodal: 0, text_only: null, n: 1 });
});

test('forgotten % = 100·(1 - after/before); retained % = 100·after/before', () => {
  assert.equal(forgotten(80, 20), 75);
  assert.equal(forgotten(80, 80), 0);
  assert.equal(retained(80, 60), 75);
  assert.equal(retained(50, 60), 120);
  assert.equal(forgotten(0, 10), null);
  assert.equal(retained(null, 10), null);
  const acc = (overall: number) => ({ overall, multimodal: overall, text_only: null, n: 10 });
  const r = relativeScores({ unlearn: acc(80), retain: acc(60), general: acc(70) }, { unlearn: acc(40), retain: acc(30), general: acc(70) });
  assert.deepEqual(r.forgotten_unlearn, { overall: 50, multimodal: 50, text_only: null });
  assert.deepEqual(r.retained_retain, { overall: 50, multimodal: 50, text_only: null });
  assert.deepEqual(r.retained_general, { overall: 100, multimodal: 100, text_only: null });
});
