import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { paraphraseAttack } from '../../src/attacks/paraphrase.ts';
import { attackTables } from '../../src/report/attacks.ts';
import { attackContext, modelTaught, weights } from './context.ts';

test('known answer: a model taught ten people answers their paraphrases and new views above chance, unseen people near chance', async (t) => {
  const data = await loadProtocolData({ seed: 0, dir: join(mkdtempSync(join(tmpdir(), 'pulse-paraphrase-')), 'world') });
  const [taught, unseen] = [data.fictitious.slice(0, 10), data.fictitious.slice(20, 30)];
  // taught on the training examples only: the canonical view, the original wording
  const model = await modelTaught(taught);
  const before = weights(model);
  const context = attackContext(model, { unlearn: taught, retain: unseen });
  const scores = await paraphraseAttack.run(context);
  t.diagnostic(JSON.stringify(scores));
  assert.deepEqual(Object.keys(scores), ['original_unlearn', 'test_set_unlearn', 'original_retain', 'test_set_retain']);
  // 4 options: chance is 25%. Taught people: 50 original questions, 50 Test_Set ones (5 text + 5 on the other views, in turn).
  const { original_unlearn: original, test_set_unlearn: testSet, test_set_retain: unseenTestSet } = scores;
  assert.ok(original!.overall! > 80, `the taught people's original questions: ${original!.overall}%`);
  assert.ok(testSet!.text_only! > 50, `paraphrased text-only questions about the taught people: ${testSet!.text_only}%`);
  assert.ok(testSet!.multimodal! > 50, `paraphrased questions on other views of the taught faces: ${testSet!.multimodal}%`);
  // unseen people: 100 Test_Set questions, binomial sd at chance √(.25·.75/100) ≈ 4.3 points; 15 points is > 3.4 sd
  assert.ok(Math.abs(unseenTestSet!.overall! - 25) < 15, `unseen people's Test_Set near chance: ${unseenTestSet!.overall}%`);
  assert.deepEqual(weights(model), before, 'the attack left every weight as it found it');
  // people without a Test_Set (MLLMU-Bench's celebrities) give no numbers rather than a zero
  assert.deepEqual(await paraphraseAttack.run({ ...context, unlearn: data.celebrities.slice(0, 3), retain: [] }), {});
  model.dispose();
});

test('the report table shows original → Test_Set accuracy', () => {
  const request = { attacks: { paraphrase: {
    original_unlearn: { overall: 20, multimodal: 10, text_only: 30 }, test_set_unlearn: { overall: 60, multimodal: 50, text_only: 70 },
    original_retain: { overall: 90, multimodal: 90, text_only: 90 }, test_set_retain: { overall: 80, multimodal: 75, text_only: 85 },
  } } };
  const series = { label: 'ga', trials: [{ method: { requests: [request] } }] } as unknown as Parameters<typeof attackTables>[0][number];
  const [table] = attackTables([series]);
  assert.equal(table!.title, 'Attack: Paraphrases and new views (Test_Set) (after the last request)');
  assert.deepEqual(table!.rows, [['ga', '20.0 (10.0 / 30.0) → 60.0 (50.0 / 70.0)', '90.0 (90.0 / 90.0) → 80.0 (75.0 / 85.0)']]);
});
