import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossModalLeakage, questionFlips } from '../../src/report/leakage.ts';
import type { Results, ScenarioResult } from '../../src/protocol/results-schema.ts';
import type { SampleRow } from '../../src/protocol/samples-file.ts';
import { completeResults } from './fixtures.ts';

const PEOPLE = ['P1', 'P2', 'P3', 'P4', 'P5'];
const GA_STEPS = 10;
const LLM_STEPS = 8;

/** fine_tuned with one request of P1..P5 and two arms: ga [projector+llm] (10 steps) and ga [llm] (8 steps). */
function scenario(seed: number, name = 'fine_tuned'): ScenarioResult {
  const ft = structuredClone(completeResults().scenarios[0]!);
  const ga = ft.methods.find((m) => m.method === 'ga' && m.update_target === 'projector+llm')!;
  const llm = ft.methods.find((m) => m.method === 'ga' && m.update_target === 'llm')!;
  ga.requests[0]!.steps = GA_STEPS;
  llm.requests[0]!.steps = LLM_STEPS;
  return { ...ft, scenario: name, seed, splits: { unlearn: PEOPLE, retain: ['R1'], requests: [PEOPLE] }, methods: [ga, llm] };
}

function results(...scenarios: ScenarioResult[]): Results {
  return { ...completeResults(), scenarios: scenarios.length ? scenarios : [scenario(0)] };
}

interface Point { seed: number; scenario: string; method: string; target: string; request: number; step: number }
const point = (method: string, target: string, request: number, step: number, seed = 0, scenario = 'fine_tuned'): Point =>
  ({ seed, scenario, method, target, request, step });

type Two = [boolean, boolean];
const T = true;
const F = false;

/** Questions 0-1 are multimodal and 2-3 text, as ids stay stable across evaluation points. */
function person(at: Point, id: string, mm: Two, text: Two, set = 'unlearn'): SampleRow[] {
  const row = (i: number, modality: string, correct: boolean): SampleRow =>
    ({ ...at, set, person: id, question: `${id}/${i}`, modality, correct, chosen: correct ? 'A' : 'B', scores: [-1, -2] });
  return [row(0, 'multimodal', mm[0]), row(1, 'multimodal', mm[1]), row(2, 'text', text[0]), row(3, 'text', text[1])];
}

/** People listed out of id order, so that the output's order has to come from sorting. */
function start(seed = 0, name = 'fine_tuned'): SampleRow[] {
  const at = point('start', '', 0, 0, seed, name);
  return [
    ...person(at, 'P4', [T, T], [T, T]),
    ...person(at, 'P2', [T, T], [T, T]),
    ...person(at, 'P1', [T, T], [T, T]),
    ...person(at, 'P3', [T, F], [T, F]),
    ...person(at, 'P5', [F, F], [T, T]),
    ...person(at, 'R1', [T, T], [T, T], 'retain'),
  ];
}

function gaEnd(seed = 0, name = 'fine_tuned'): SampleRow[] {
  const at = point('ga', 'projector+llm', 1, GA_STEPS, seed, name);
  return [
    ...person(at, 'P4', [T, F], [F, F]), // forgotten by name, 1/2 with the image: leak in text
    ...person(at, 'P2', [F, F], [F, F]), // forgotten in both
    ...person(at, 'P1', [F, F], [T, T]), // forgotten with the image, still known by name: leak in multimodal
    ...person(at, 'P3', [F, T], [F, T]), // one flip each way per modality, nothing forgotten
    ...person(at, 'P5', [F, F], [T, T]), // never right with the image, so not forgotten there
    ...person(at, 'R1', [F, F], [T, T], 'retain'),
  ];
}

/** ga [llm] changes nothing: its end is the start model's answers. */
const llmEnd = (seed = 0, name = 'fine_tuned'): SampleRow[] =>
  start(seed, name).map((r) => ({ ...r, ...point('ga', 'llm', 1, LLM_STEPS, seed, name) }));

/** Rows that would make P3 a multimodal leak if any of them were read as ga [projector+llm]'s end in seed 0. */
function noise(): SampleRow[] {
  const p3 = (at: Point) => person(at, 'P3', [F, F], [T, T]);
  return [
    ...p3(point('ga', 'projector+llm', 1, GA_STEPS, 1)),
    ...p3(point('npo', 'projector+llm', 1, GA_STEPS)),
    ...p3(point('ga', 'projector+llm', 1, 5)),
    ...p3(point('ga', 'llm', 1, GA_STEPS)),
  ];
}

const samples = (): SampleRow[] => [...start(), ...gaEnd(), ...llmEnd(), ...noise()];
const GA = { scenario: 'fine_tuned', method: 'ga', update_target: 'projector+llm', seed: 0 };
const LLM = { scenario: 'fine_tuned', method: 'ga', update_target: 'llm', seed: 0 };

test('crossModalLeakage: people forgotten in one modality only, still answered in the other', () => {
  assert.deepEqual(crossModalLeakage(results(), samples()), [
    { ...GA, person: 'P1', multimodal: { before: 2, after: 0, n: 2 }, text: { before: 2, after: 2, n: 2 }, forgotten_in: 'multimodal' },
    { ...GA, person: 'P4', multimodal: { before: 2, after: 1, n: 2 }, text: { before: 2, after: 0, n: 2 }, forgotten_in: 'text' },
  ]);
});

test('crossModalLeakage: a modality with no right answer before cannot be forgotten', () => {
  // P5: 0/2 with the image before and after, 2/2 by name after: "no right answer after" alone would call it a leak
  const leaks = crossModalLeakage(results(), samples());
  assert.ok(!leaks.some((l) => l.person === 'P5'));
  // once P5 had one right answer with the image before, the same end is a multimodal leak
  const knew = samples().map((r) => (r.method === 'start' && r.question === 'P5/0' ? { ...r, correct: true } : r));
  const p5 = crossModalLeakage(results(), knew).filter((l) => l.person === 'P5' && l.update_target === 'projector+llm');
  assert.deepEqual(p5, [
    { ...GA, person: 'P5', multimodal: { before: 1, after: 0, n: 2 }, text: { before: 2, after: 2, n: 2 }, forgotten_in: 'multimodal' },
  ]);
});

test('questionFlips: right→wrong and wrong→right per modality, counted by hand', () => {
  assert.deepEqual(questionFlips(results(), samples()), [
    // multimodal: P4 1, P2 2, P1 2, P3 1 right→wrong; P3 1 wrong→right
    { ...GA, modality: 'multimodal', right_to_wrong: 6, wrong_to_right: 1, questions: 10 },
    // text: P4 2, P2 2, P3 1 right→wrong; P3 1 wrong→right
    { ...GA, modality: 'text', right_to_wrong: 5, wrong_to_right: 1, questions: 10 },
    { ...LLM, modality: 'multimodal', right_to_wrong: 0, wrong_to_right: 0, questions: 10 },
    { ...LLM, modality: 'text', right_to_wrong: 0, wrong_to_right: 0, questions: 10 },
  ]);
});

test('only complete methods with every request done, in scenarios with a start model', () => {
  const failed = scenario(0);
  failed.methods[1] = { ...failed.methods[1]!, status: 'failed', error: 'NaN' };
  assert.deepEqual(questionFlips(results(failed), samples()).map((f) => f.update_target), ['projector+llm', 'projector+llm']);

  const short = scenario(0);
  short.splits.requests = [['P1', 'P2'], ['P3', 'P4', 'P5']];
  assert.deepEqual(questionFlips(results(short), samples()), []);
  assert.deepEqual(crossModalLeakage(results(short), samples()), []);

  assert.deepEqual(questionFlips(results({ ...scenario(0), before: null }), samples()), []);
});

test('order: scenarios as in results, then methods, then seeds', () => {
  const run = results(scenario(0), scenario(0, 'pre_trained'), scenario(1));
  const rows = [0, 1].flatMap((seed) => [...start(seed), ...gaEnd(seed), ...llmEnd(seed)]);
  rows.push(...start(0, 'pre_trained'), ...gaEnd(0, 'pre_trained'), ...llmEnd(0, 'pre_trained'));
  const keys = questionFlips(run, rows).map((f) => `${f.scenario} ${f.update_target} ${f.seed} ${f.modality}`);
  assert.deepEqual(keys, [
    'fine_tuned projector+llm 0 multimodal', 'fine_tuned projector+llm 0 text',
    'fine_tuned projector+llm 1 multimodal', 'fine_tuned projector+llm 1 text',
    'fine_tuned llm 0 multimodal', 'fine_tuned llm 0 text',
    'fine_tuned llm 1 multimodal', 'fine_tuned llm 1 text',
    'pre_trained projector+llm 0 multimodal', 'pre_trained projector+llm 0 text',
    'pre_trained llm 0 multimodal', 'pre_trained llm 0 text',
  ]);
  const leaks = crossModalLeakage(run, rows).map((l) => `${l.scenario} ${l.seed} ${l.person}`);
  assert.deepEqual(leaks, [
    'fine_tuned 0 P1', 'fine_tuned 0 P4', 'fine_tuned 1 P1', 'fine_tuned 1 P4', 'pre_trained 0 P1', 'pre_trained 0 P4',
  ]);
});

test('questionFlips: an arm without samples gives no rows rather than zero flips', () => {
  assert.deepEqual(questionFlips(results(), start()), []);
});
