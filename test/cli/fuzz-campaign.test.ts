/**
 * A slice of the fuzz campaign (`npm run fuzz -- --cases 300` is the whole): 20 seeded cases per input
 * format (config YAML, command lines, results.json, pulse safetensors, a Hugging Face folder, Parquet,
 * TSV, images, plug-ins), the hand-made hostile ones first, run through the CLI's main() in one sandbox
 * process. Each must succeed or end in exactly one `pulse:` line with exit status 2, within the case
 * time limit, leaving its inputs, the temp root and the checkout as they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FORMATS } from '../../scripts/campaigns/fuzz-cases.ts';
import { fuzzTable, runFuzzCampaign } from '../../scripts/campaigns/fuzz-campaign.ts';

const CASES = 20;
const result = await runFuzzCampaign({ cases: CASES, mode: 'sandbox' });

test('fuzzed inputs write nothing outside their own folders', (t) => {
  for (const line of fuzzTable(result)) t.diagnostic(line);
  assert.deepEqual(result.outside, []);
});

for (const format of FORMATS) {
  test(`fuzzed ${format} inputs each end in success or one pulse: line (${CASES} cases)`, () => {
    const tally = result.tallies.get(format)!;
    assert.equal(tally.cases, CASES);
    assert.deepEqual(tally.failures, []);
    // a slice where every case succeeded, or every case was refused, would test less than it claims
    assert.ok(tally.refused > 0, `${format}: no case was refused`);
  });
}
