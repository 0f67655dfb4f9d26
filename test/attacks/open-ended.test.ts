import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import type { PulseModel } from '../../src/model/model.ts';
import { openEndedAttack } from '../../src/attacks/open-ended.ts';
import type { AttackContext } from '../../src/attacks/attack.ts';
import type { Example, PersonRecord } from '../../src/data/records.ts';
import { StandInModel } from '../model/stand-in.ts';
import { solidImage } from '../model/helpers.ts';
import { attackContext, modelTaught, weights } from './context.ts';

const data = await loadProtocolData({ seed: 0, dir: join(mkdtempSync(join(tmpdir(), 'pulse-open-ended-')), 'world') });

function context(model: PulseModel, unlearn: readonly PersonRecord[], retain: readonly PersonRecord[]): AttackContext {
  return attackContext(model, { unlearn, retain });
}

test("a person's open-ended items come from the Parquet rows: 5 + 5 generation questions and cloze statements, the face on the multimodal ones", () => {
  const person = data.fictitious[0]!;
  const face = person.questions.find((q) => q.modality === 'multimodal')!.image;
  for (const items of [person.generation, person.cloze]) {
    assert.deepEqual(items.map((i) => i.modality).sort(), [...Array(5).fill('multimodal'), ...Array(5).fill('text')]);
    for (const i of items) assert.equal(i.image, i.modality === 'multimodal' ? face : undefined);
  }
  assert.ok(person.cloze.every((i) => i.prompt.includes('__')), 'a cloze statement has its blank');
  assert.ok(person.cloze.filter((i) => i.modality === 'text').every((i) => i.prompt.includes(person.name)), 'text-only statements name the person');
  assert.deepEqual(person.generation.map((g) => g.groundTruth), person.cloze.map((c) => c.groundTruth));
});

/** A stand-in whose greedy answers are fixed, by prompt: the scores below are worked out by hand from them. */
class FixedAnswers extends StandInModel {
  readonly calls: { prompts: string[]; maxTokens: number }[] = [];
  constructor(readonly answers: Record<string, string>) { super(0); }
  override async generate(prompts: readonly Example[], maxTokens: number): Promise<string[]> {
    this.calls.push({ prompts: prompts.map((p) => p.prompt), maxTokens });
    return prompts.map((p) => this.answers[p.prompt]!);
  }
}

test('ROUGE-L and cloze exact match by modality, against values worked out by hand', async () => {
  const image = solidImage(10, 20, 30);
  const person: PersonRecord = {
    id: 'p', name: 'Ada Stone', questions: [], training: [],
    generation: [
      { prompt: "What is this person's occupation?", groundTruth: 'software engineer', modality: 'multimodal', image },
      { prompt: 'Where does Ada Stone live?', groundTruth: 'Lakeview', modality: 'text' },
    ],
    cloze: [
      { prompt: 'This person lives in __.', groundTruth: 'Lakeview', modality: 'multimodal', image },
      { prompt: 'Ada Stone works as a __.', groundTruth: 'pilot', modality: 'text' },
    ],
  };
  const model = new FixedAnswers({
    "What is this person's occupation?": 'a software engineer',
    'Where does Ada Stone live?': 'Oslo',
    'This person lives in __.': ' lakeview.',
    'Ada Stone works as a __.': 'a pilot',
  });
  const scores = await openEndedAttack.run(context(model, [person], []));
  // multimodal: ref "software engineer" (2), answer "a software engineer" (3), LCS 2: P = 2/3, R = 1, F = 2·(2/3)/(5/3) = 0.8
  // text-only: "Lakeview" vs "Oslo" share nothing: 0; overall: (0.8 + 0)/2 = 0.4
  const rouge = scores.rouge_l_unlearn!;
  assert.ok(Math.abs(rouge.overall! - 0.4) < 1e-12 && Math.abs(rouge.multimodal! - 0.8) < 1e-12 && rouge.text_only === 0, JSON.stringify(rouge));
  // cloze: " lakeview." normalises to "lakeview" = the blank (100 %); "a pilot" is not "pilot" (0 %); overall 50 %
  assert.deepEqual(scores.cloze_unlearn, { overall: 50, multimodal: 100, text_only: 0 });
  assert.deepEqual(Object.keys(scores), ['rouge_l_unlearn', 'cloze_unlearn'], 'D_unlearn only');
  // people without items: no number for any modality
  assert.deepEqual((await openEndedAttack.run(context(model, [], []))).rouge_l_unlearn, { overall: null, multimodal: null, text_only: null });
  // the prompts are the items' own text, with the preset's budgets (attack_settings.open_ended)
  assert.deepEqual(model.calls, [
    { prompts: ["What is this person's occupation?", 'Where does Ada Stone live?'], maxTokens: 8 },
    { prompts: ['This person lives in __.', 'Ada Stone works as a __.'], maxTokens: 6 },
  ]);
  model.dispose();
});

test('known answer: a model fine-tuned on ten people says their answers (high ROUGE-L), not those of ten people it never saw; weights untouched', async () => {
  const [taught, unseen] = [data.fictitious.slice(0, 10), data.fictitious.slice(20, 30)];
  const model = await modelTaught(taught);
  const before = weights(model);
  const scores = await openEndedAttack.run(context(model, taught, []));
  const [seen, other] = [scores.rouge_l_unlearn!, (await openEndedAttack.run(context(model, unseen, []))).rouge_l_unlearn!];
  for (const m of ['multimodal', 'text_only'] as const) {
    assert.ok(seen[m]! > 0.6 && seen[m]! - other[m]! > 0.3, `${m}: ROUGE-L ${seen[m]} on the taught people vs ${other[m]} on unseen ones`);
  }
  for (const s of Object.values(scores)) for (const v of Object.values(s)) assert.ok(v !== null && v >= 0 && v <= 100);
  assert.deepEqual(weights(model), before, 'the attack left every weight as it found it');
  console.log('open_ended on taught vs unseen people:', JSON.stringify(scores));
  model.dispose();
});
