import type { MethodResult, Results, ScenarioResult } from '../protocol/results-schema.ts';
import type { SampleRow } from '../protocol/samples-file.ts';

/*
 * Per-question views of D_unlearn from samples.parquet: what the aggregate accuracies in results.json
 * cannot show, i.e. which people a method forgot in one modality only, and how many answers moved
 * each way (a flat accuracy can hide as many right→wrong as wrong→right flips).
 */

export interface ArmKey { scenario: string; method: string; update_target: string }

type Modality = 'multimodal' | 'text';
const MODALITIES: readonly Modality[] = ['multimodal', 'text'];

interface Count { before: number; after: number; n: number }

/** A person of D_unlearn after an arm's last request in one seed, per modality: right answers before and after out of n. */
export interface PersonLeak extends ArmKey {
  seed: number;
  person: string;
  multimodal: Count;
  text: Count;
  /** 'multimodal' when forgotten with the image but still answered by name, 'text' the reverse */
  forgotten_in: Modality;
}

/**
 * Per arm, seed and modality over D_unlearn: how many questions flipped right→wrong and wrong→right
 * between the start model and the arm's last request.
 */
export interface Flips extends ArmKey {
  seed: number;
  modality: Modality;
  right_to_wrong: number;
  wrong_to_right: number;
  questions: number;
}

/** One method entry of one seed's scenario. */
interface Arm { scenario: ScenarioResult; method: MethodResult }

/** One question of D_unlearn answered by both the start model and the arm's final model. */
interface Pair { person: string; modality: Modality; before: boolean; after: boolean }

/** D_unlearn rows by evaluation point, so that each arm is a couple of lookups instead of a scan of ~1e6 rows. */
type Index = Map<string, SampleRow[]>;

const pointKey = (seed: number, scenario: string, method: string, target: string, request: number, step: number): string =>
  `${seed}|${scenario}|${method}|${target}|${request}|${step}`;

function indexSamples(samples: readonly SampleRow[]): Index {
  const index: Index = new Map();
  for (const r of samples) {
    if (r.set !== 'unlearn' || r.person === null) continue;
    const key = pointKey(r.seed, r.scenario, r.method, r.target, r.request, r.step);
    const rows = index.get(key);
    if (rows) rows.push(r);
    else index.set(key, [r]);
  }
  return index;
}

/** A failed or pending method has no final model to compare, and a scenario without `before` had no start model. */
const finished = (m: MethodResult, s: ScenarioResult): boolean =>
  m.status === 'complete' && m.requests.length === s.splits.requests.length;

const armId = (m: MethodResult): string => `${m.method}|${m.update_target}`;

/** Results hold one entry per scenario and seed, seed-major; reports read scenario, then arm, then seed. */
function finishedArms(results: Results): Arm[] {
  const ready = results.scenarios.filter((s) => s.before !== null);
  const names = [...new Set(ready.map((s) => s.scenario))];
  return names.flatMap((name) => {
    const entries = ready.filter((s) => s.scenario === name);
    const ids = [...new Set(entries.flatMap((s) => s.methods.map(armId)))];
    return ids.flatMap((id) => entries.flatMap((scenario) =>
      scenario.methods.filter((m) => armId(m) === id && finished(m, scenario)).map((method) => ({ scenario, method }))));
  });
}

const isModality = (m: string): m is Modality => m === 'multimodal' || m === 'text';

/** Only questions scored at both ends count, so that before and after are out of the same n. */
function pairs(index: Index, { scenario: s, method: m }: Arm): Pair[] {
  const last = m.requests.at(-1);
  if (!last) return [];
  const start = index.get(pointKey(s.seed, s.scenario, 'start', '', 0, 0)) ?? [];
  const end = index.get(pointKey(s.seed, s.scenario, m.method, m.update_target, last.request, last.steps)) ?? [];
  const after = new Map(end.map((r) => [r.question, r.correct]));
  const people = new Set(s.splits.unlearn);
  return start.flatMap((r) => {
    const correct = after.get(r.question);
    if (correct === undefined || r.person === null || !people.has(r.person) || !isModality(r.modality)) return [];
    return [{ person: r.person, modality: r.modality, before: r.correct, after: correct }];
  });
}

const armKey = ({ scenario: s, method: m }: Arm): ArmKey & { seed: number } =>
  ({ scenario: s.scenario, method: m.method, update_target: m.update_target, seed: s.seed });

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function tallyPeople(pairs: readonly Pair[]): [string, Record<Modality, Count>][] {
  const tally = new Map<string, Record<Modality, Count>>();
  for (const p of pairs) {
    let t = tally.get(p.person);
    if (!t) tally.set(p.person, (t = { multimodal: { before: 0, after: 0, n: 0 }, text: { before: 0, after: 0, n: 0 } }));
    const c = t[p.modality];
    c.n += 1;
    if (p.before) c.before += 1;
    if (p.after) c.after += 1;
  }
  return [...tally].sort(([a], [b]) => byCodeUnit(a, b));
}

/** Nothing right before means nothing to forget: a person the start model never knew there is not evidence of forgetting. */
const forgotten = (c: Count): boolean => c.before > 0 && c.after === 0;
const answered = (c: Count): boolean => c.n > 0 && c.after / c.n >= 0.5;

function forgottenIn(t: Record<Modality, Count>): Modality | null {
  if (forgotten(t.multimodal) && answered(t.text)) return 'multimodal';
  if (forgotten(t.text) && answered(t.multimodal)) return 'text';
  return null;
}

/**
 * Cross-modal leakage: people forgotten in one modality but still answered in the other. A person is
 * "forgotten" in modality m when they had at least one right answer there before and none after; "still
 * answered" in the other modality when at least half of its questions are right after (after/n >= 0.5).
 */
export function crossModalLeakage(results: Results, samples: readonly SampleRow[]): PersonLeak[] {
  const index = indexSamples(samples);
  return finishedArms(results).flatMap((arm) =>
    tallyPeople(pairs(index, arm)).flatMap(([person, t]) => {
      const where = forgottenIn(t);
      return where ? [{ ...armKey(arm), person, multimodal: t.multimodal, text: t.text, forgotten_in: where }] : [];
    }));
}

/** Modalities with no paired question are left out: zero flips out of zero questions would read as stability. */
export function questionFlips(results: Results, samples: readonly SampleRow[]): Flips[] {
  const index = indexSamples(samples);
  return finishedArms(results).flatMap((arm) => {
    const all = pairs(index, arm);
    return MODALITIES.flatMap((modality) => {
      const own = all.filter((p) => p.modality === modality);
      if (!own.length) return [];
      const right_to_wrong = own.filter((p) => p.before && !p.after).length;
      const wrong_to_right = own.filter((p) => !p.before && p.after).length;
      return [{ ...armKey(arm), modality, right_to_wrong, wrong_to_right, questions: own.length }];
    });
  });
}
