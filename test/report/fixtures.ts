import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relativeScores } from '../../src/metrics/accuracy.ts';
import type { MethodResult, Results, ScenarioResult } from '../../src/protocol/results-schema.ts';
import type { Accuracy, SetScores } from '../../src/metrics/scores.ts';
import { summarise } from '../../src/protocol/summary.ts';

const acc = (mm: number, text: number | null, n = 100) => ({ overall: text === null ? mm : (mm + text) / 2, multimodal: mm, text_only: text, n });
const scores = (u: [number, number], r: [number, number], g: number): SetScores => ({ unlearn: acc(...u), retain: acc(...r), general: acc(g, null) });

function method(name: string, target: string, before: SetScores, afters: SetScores[], extra: Partial<MethodResult> = {}): MethodResult {
  return {
    method: name, update_target: target, status: 'complete', hyperparameters: { lr: 0.001, epochs: 5 },
    requests: afters.map((after, k) => ({
      request: k + 1, people: [`p${k}`], after, relative: relativeScores(before, after), by_request: [], steps: 10, stopped_early: false, trajectory: [],
      loss: { first: -1, last: -3 }, seconds: 1,
    })),
    ...extra,
  };
}

function scenario(name: string, requests: number, methods: (before: SetScores) => MethodResult[], extra: Partial<ScenarioResult> = {}): ScenarioResult {
  const before = scores([78, 77], [76, 79], 82);
  const ids = Array.from({ length: requests * 2 }, (_, i) => `f${i}`);
  return {
    scenario: name, seed: 0, status: 'complete', update_target: 'projector+llm', before_by_request: [], oracle: null,
    splits: { unlearn: ids.slice(0, requests), retain: ids.slice(requests), requests: ids.slice(0, requests).map((id) => [id]) },
    before, methods: methods(before), ...extra,
  };
}

/** A plausible complete run: 3 scenarios x GA / GA+KLR / NPO, the GA [llm] ablation, 5 sustainability requests. */
export function completeResults(id = 'paper-test', methodName = 'ga'): Results {
  const one = (before: SetScores) => [
    method(methodName, 'projector+llm', before, [scores([20, 25], [40, 45], 60)]),
    method('ga_klr', 'projector+llm', before, [scores([30, 32], [65, 70], 75)]),
    method('npo', 'projector+llm', before, [scores([35, 30], [70, 72], 78)]),
  ];
  const five = (start: number) => Array.from({ length: 5 }, (_, k) => scores([start - 10 * k, start - 12 * k], [75 - 5 * k, 77 - 6 * k], 80 - 3 * k));
  return {
    schema: 'pulse.results', version: 2, summary: null,
    run: { id, created_at: '2026-11-24T00:00:00Z', finished_at: '2026-11-24T00:09:00Z', pulse_version: '0.1.0', preset: 'paper', scoring: 'likelihood',
      model: { name: 'base.safetensors', path: 'assets/base.safetensors', sha256: 'ab'.repeat(32) }, seeds: { master: 0, world: 0 }, seed_list: [0], config: { seed: 0 } },
    scenarios: [
      scenario('fine_tuned', 1, (b) => [...one(b), method('ga', 'llm', b, [scores([40, 25], [60, 50], 70)])]),
      scenario('pre_trained', 1, one, { selection: { threshold: 80, candidates: 153, kept: [{ id: 'c001', multimodal: 100, text_only: 100 }] } }),
      scenario('sustainability', 5, (b) => [
        method('ga', 'projector+llm', b, five(70)), method('ga_klr', 'projector+llm', b, five(72)), method('npo', 'projector+llm', b, five(74)),
      ]),
    ],
  };
}

/** A run that did not go well: a failed method, a pending one, a skipped scenario. */
export function partialResults(): Results {
  const r = completeResults('partial');
  const ft = r.scenarios[0]!;
  ft.status = 'partial';
  ft.methods[0] = { ...ft.methods[0]!, status: 'failed', error: 'ga: the loss became NaN at step 3 of 120', requests: [] };
  const sus = r.scenarios[2]!;
  sus.status = 'partial';
  sus.methods[2] = { ...sus.methods[2]!, status: 'pending', requests: sus.methods[2]!.requests.slice(0, 2) };
  r.scenarios[1] = { ...r.scenarios[1]!, status: 'skipped', note: 'behaviour-based selection kept 30 celebrities at a 80% threshold; 45 are needed', before: null, methods: [] };
  r.run.finished_at = null;
  return r;
}

/**
 * completeResults over three seeds: seed k's accuracies after each request are seed 0's shifted by
 * `shift[k]` points, and the summary is computed as a run computes it (without samples, so without
 * bootstrap intervals).
 */
export function seededResults(shift = [0, 2, -1]): Results {
  const r = completeResults('seeded');
  const moved = (a: Accuracy, d: number): Accuracy => ({ ...a, overall: a.overall === null ? null : a.overall + d, multimodal: a.multimodal === null ? null : a.multimodal + d, text_only: a.text_only === null ? null : a.text_only + d });
  r.scenarios = shift.flatMap((d, seed) => r.scenarios.map((s) => ({
    ...s, seed,
    methods: s.methods.map((m) => ({ ...m, requests: m.requests.map((q) => {
      const after = { unlearn: moved(q.after.unlearn, d), retain: moved(q.after.retain, d), general: moved(q.after.general, d) };
      return { ...q, after, relative: relativeScores(s.before!, after) };
    }) })),
  })));
  r.run.seed_list = shift.map((_, seed) => seed);
  r.summary = summarise(r, [], { resamples: 0, seed: 0 });
  return r;
}

export function writeRun(results: Results): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'pulse-report-')), results.run.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2));
  return dir;
}
