import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attackTables } from '../../src/report/attacks.ts';
import type { Series } from '../../src/report/series.ts';

const by = (overall: number, multimodal: number | null = null, textOnly: number | null = null) => ({ overall, multimodal, text_only: textOnly });

/** One seed's last request, with only the mia and quantise attacks run. */
const trial = (minK: number, before: number, after: number) => ({
  method: { requests: [{ attacks: {
    mia: { auc_unlearn: by(0.5), auc_retain: by(0.5), mink_auc_unlearn: by(minK, minK, 0.5), mink_auc_retain: by(0.5) },
    quantise: { unlearn_before: by(before), unlearn_after: by(after), retain_before: by(90), retain_after: by(88) },
  } }] },
});

test('the report tables Min-K% AUCs and the int8 attack, averaged across seeds', () => {
  const series = { label: 'ga', trials: [trial(0.8, 20, 60), trial(0.6, 40, 80)] } as unknown as Series;
  const tables = attackTables([series]);
  assert.deepEqual(tables.map((t) => t.title), ['Attack: Membership inference (after the last request)', 'Attack: Quantisation to int8 (after the last request)']);
  const cell = (table: number, label: string) => tables[table]!.rows[0]![tables[table]!.header.indexOf(label)];
  // means of two seeds: Min-K% (0.8 + 0.6)/2 = 0.700 overall and multimodal, 0.500 text-only
  assert.equal(cell(0, 'Min-K% AUC D_unlearn'), '0.700 (0.700 / 0.500)');
  // D_unlearn (20 + 40)/2 = 30.0 -> (60 + 80)/2 = 70.0; D_retain 90 -> 88; no modality split given: dashes
  assert.equal(cell(1, 'D_unlearn: before → after'), '30.0 (— / —) → 70.0 (— / —)');
  assert.equal(cell(1, 'D_retain: before → after'), '90.0 (— / —) → 88.0 (— / —)');
});
