import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { runProtocol } from '../../src/protocol/runner.ts';
import { disposeDelta, parseTarget, type PulseModel } from '../../src/model/model.ts';
import { relearnAttack } from '../../src/attacks/relearn.ts';
import { membershipAttack, privacyLeakage } from '../../src/attacks/mia.ts';
import { crossModalAttack, crossModalShift } from '../../src/attacks/cross-modal.ts';
import { scorePeople } from '../../src/protocol/evaluate.ts';
import { personAccuracy } from '../../src/protocol/outcomes.ts';
import type { Example } from '../../src/data/records.ts';
import type { AttackContext } from '../../src/attacks/attack.ts';
import { ATTACKS } from '../../src/attacks/registry.ts';
import { unlearnRequest } from '../../src/unlearn/unlearn.ts';
import { getMethod } from '../../src/unlearn/registry.ts';
import { protocolFixture } from '../protocol/fixture.ts';
import { attackContext, modelTaught, weights } from './context.ts';

/** The shipped base model LoRA-fine-tuned on ten fictitious people until it knows them, with an attack context for them. */
async function taughtModel(): Promise<{ model: PulseModel; pool: Example[]; context: AttackContext }> {
  const data = await loadProtocolData({ seed: 0, dir: join(mkdtempSync(join(tmpdir(), 'pulse-attacks-')), 'world') });
  const [taught, others, unseen] = [data.fictitious.slice(0, 10), data.fictitious.slice(10, 20), data.fictitious.slice(20, 30)];
  const model = await modelTaught(taught);
  const context = attackContext(model, { unlearn: taught, retain: others, unseen }, { startPeople: await scorePeople(model, taught, 'likelihood', 256) });
  return { model, pool: taught.flatMap((p) => p.training), context };
}

test('known answers: relearning brings back answers GA only pushed down; MIA tells trained people from unseen ones, not unseen from unseen', async () => {
  const { model, pool, context } = await taughtModel();
  const target = [...context.target];
  const mia = await membershipAttack.run(context);
  assert.ok(mia.auc_unlearn!.overall! > 0.9, `trained vs unseen people: AUC ${mia.auc_unlearn!.overall}`);
  assert.ok(Math.abs(mia.auc_retain!.overall! - 0.5) < 0.15, `two sets of unseen people: AUC ${mia.auc_retain!.overall} is near 0.5`);
  assert.ok(mia.mink_auc_unlearn!.overall! > 0.9, `Min-K%, trained vs unseen people: AUC ${mia.mink_auc_unlearn!.overall}`);
  assert.ok(Math.abs(mia.mink_auc_retain!.overall! - 0.5) < 0.15, `Min-K%, two sets of unseen people: AUC ${mia.mink_auc_retain!.overall} is near 0.5`);
  // GA for two epochs: the answers' likelihood is pushed down, the knowledge is not removed
  const ga = await unlearnRequest(model, getMethod('ga'), pool, [], {
    lr: 3e-3, epochs: 2, batchSize: 16, clipNorm: 1, lora: { rank: 8, alpha: 16, dropout: 0, layers: [] }, target, hyperparameters: {}, seed: 3,
  });
  disposeDelta(ga.delta);
  const unlearned = weights(model);
  const relearned = await relearnAttack.run(context);
  assert.ok(relearned.before!.overall! < 60, `GA pushed the held-out half down to ${relearned.before!.overall}%`);
  assert.ok(relearned.after!.overall! - relearned.before!.overall! >= 30, `relearning the other half brought it back: ${relearned.before!.overall} -> ${relearned.after!.overall}`);
  await membershipAttack.run(context);
  assert.deepEqual(weights(model), unlearned, 'the attacks left every weight as they found it');
  model.dispose();
});

test('cross-modal known answer: GA on the projector alone forgets people with the image only, never by name', async () => {
  const { model, pool, context } = await taughtModel();
  const known = context.startPeople.filter((p) => p.multimodal > 25 && p.text_only > 25).length;
  assert.ok(known >= 8, `the fine-tuned model knows most of the ten people in both modalities (${known})`);
  // the projector only carries the image: text-only answers cannot change
  const ga = await unlearnRequest(model, getMethod('ga'), pool.filter((e) => e.image !== undefined), [], {
    lr: 1e-2, epochs: 3, batchSize: 16, clipNorm: 1, lora: null, target: parseTarget('projector'), hyperparameters: {}, seed: 3,
  });
  disposeDelta(ga.delta);
  const noted: Record<string, readonly string[]> = {};
  const scores = await crossModalAttack.run({ ...context, notePeople: (list, ids) => { noted[list] = ids; } });
  assert.ok(scores.image_only!.overall! >= 3, `people forgotten with the image but not by name: ${scores.image_only!.overall}`);
  assert.equal(scores.text_only!.overall, 0);
  assert.equal(scores.both!.overall, 0);
  assert.equal(noted.image_only!.length, scores.image_only!.overall);
  const now = new Map((await scorePeople(model, context.unlearn, 'likelihood', 256)).map((p) => [p.id, p]));
  for (const id of noted.image_only!) assert.ok(now.get(id)!.multimodal <= 25 && now.get(id)!.text_only > 25, id);
  model.dispose();
});

test('cross-modal shift: who fell to chance in one modality, the other, or both (hand-worked)', () => {
  const start = [
    { id: 'a', multimodal: 80, text_only: 80 }, { id: 'b', multimodal: 80, text_only: 60 }, { id: 'c', multimodal: 60, text_only: 100 },
    { id: 'd', multimodal: 20, text_only: 80 }, { id: 'e', multimodal: 40, text_only: 40 },
  ];
  const now = [
    // a: 80 -> 20 with the image, text stays 80: image only; b: both fall to 20 / 0; c: text falls to 20, image kept at 40
    { id: 'a', multimodal: 20, text_only: 80 }, { id: 'b', multimodal: 20, text_only: 0 }, { id: 'c', multimodal: 40, text_only: 20 },
    // d: never known with the image, so cannot fall in it; text falls but the image is not "kept" (20 ≤ 25): none
    { id: 'd', multimodal: 20, text_only: 20 },
    // e: image 40 -> 25 is at chance (≤ 25), text 40 -> 40 kept: image only; f: not in start, skipped
    { id: 'e', multimodal: 25, text_only: 40 }, { id: 'f', multimodal: 0, text_only: 100 },
  ];
  assert.deepEqual(crossModalShift(start, now), { image_only: ['a', 'e'], text_only: ['c'], both: ['b'] });
});

test('person accuracy from sample rows, per modality', () => {
  const row = (person: string | null, modality: string, correct: boolean) => ({ person, modality, correct });
  const rows = [row('p', 'multimodal', true), row('p', 'multimodal', false), row('p', 'text', true), row(null, 'multimodal', true), row('q', 'text', false)];
  // p: 1 of 2 with the image = 50, 1 of 1 by name = 100; q: no multimodal row = 0, 0 of 1 = 0; the general row is ignored
  assert.deepEqual(personAccuracy(rows), [{ id: 'p', multimodal: 50, text_only: 100 }, { id: 'q', multimodal: 0, text_only: 0 }]);
});

test('attacks are recorded after every request and change none of the unlearning numbers', async () => {
  const fixture = await protocolFixture();
  const run = async (attacks: string[]) => (await runProtocol({
    config: resolveConfig({ preset: 'quick', file: fixture.config, overrides: { scenarios: ['sustainability'], methods: ['ga'], attacks, eval: { oracle: true } } }),
    outDir: join(fixture.dir, 'runs', attacks.join('-') || 'none'), preset: 'quick', cacheDir: join(fixture.dir, '.cache'),
    loadData: (c) => loadProtocolData(c.world),
  })).results.scenarios[0]!.methods[0]!.requests;
  const [plain, attacked] = [await run([]), await run(['all'])];
  const numbers = (requests: typeof plain) => requests.map(({ seconds: _, attacks: __, attack_people: ___, ...rest }) => rest);
  assert.deepEqual(numbers(attacked), numbers(plain));
  for (const r of attacked) assert.deepEqual(Object.keys(r.attacks ?? {}), [...ATTACKS.keys()]);
  // the attacks read the request's own evaluation for the weights it left: the same numbers as the request's
  const { n: _, ...unlearnAfter } = attacked.at(-1)!.after.unlearn;
  assert.deepEqual(attacked.at(-1)!.attacks!.quantise!.unlearn_before, unlearnAfter);
  assert.deepEqual(attacked.at(-1)!.attacks!.paraphrase!.original_unlearn, unlearnAfter, 'every fictitious person has a Test_Set');
  for (const r of attacked) {
    for (const list of ['image_only', 'text_only', 'both']) assert.equal(r.attack_people?.cross_modal?.[list]?.length ?? 0, r.attacks!.cross_modal![list]!.overall);
  }
  for (const r of attacked) assert.deepEqual(Object.keys(r.attacks!.mia!), ['auc_unlearn', 'auc_retain', 'mink_auc_unlearn', 'mink_auc_retain', 'privleak'], 'the oracle gives privacy leakage');
  assert.equal(plain[0]!.attacks, undefined);
});

test('privacy leakage = 100·(AUC_unlearned − AUC_oracle)/AUC_oracle, per modality', () => {
  const leak = privacyLeakage({ overall: 0.6, multimodal: 0.45, text_only: null }, { overall: 0.5, multimodal: 0.5, text_only: 0.5 });
  // 100·(0.6 − 0.5)/0.5 = 20; 100·(0.45 − 0.5)/0.5 = −10; no text-only AUC: null
  assert.ok(Math.abs(leak.overall! - 20) < 1e-9 && Math.abs(leak.multimodal! + 10) < 1e-9);
  assert.equal(leak.text_only, null);
});

test('an unknown attack is one clear config error', () => {
  assert.throws(() => resolveConfig({ preset: 'quick', overrides: { attacks: ['relearning'] } }), /attacks\.0: unknown attack 'relearning' \(known: all, relearn, relearn_retain, mia, paraphrase, cross_modal, open_ended, quantise\)/);
});
