import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeReport } from '../../src/report/index.ts';
import { PulseError } from '../../src/errors.ts';
import type { Results } from '../../src/protocol/results-schema.ts';
import { completeResults, partialResults, seededResults, writeRun } from './fixtures.ts';

const PNG = [0x89, 0x50, 0x4e, 0x47];

test('a report is built from results.json alone: markdown, self-contained HTML, SVG and PNG charts', async () => {
  const dir = writeRun(completeResults());
  const files = await writeReport(dir);
  const names = files.charts.map((f) => f.split('/').pop());
  const charts = ['radar-fine_tuned', 'fine_tuned-tradeoff', 'radar-pre_trained', 'pre_trained-tradeoff', 'radar-sustainability', 'sustainability-tradeoff', 'sustainability-lines', 'sustainability-per-request'];
  assert.deepEqual(names, charts.flatMap((c) => [`${c}.svg`, `${c}.png`]));
  for (const f of files.charts) {
    const bytes = readFileSync(f);
    if (f.endsWith('.png')) assert.deepEqual([...bytes.subarray(0, 4)], PNG);
    else assert.match(bytes.toString(), /^<svg[\s\S]*<\/svg>$/);
  }
  const svg = readFileSync(join(dir, 'charts', 'radar-fine_tuned.svg'), 'utf8');
  for (const label of ['ga', 'ga_klr', 'npo', 'ga [llm]', 'forgotten % (D_unlearn)']) assert.ok(svg.includes(`>${label}<`), `radar shows ${label}`);
  const md = readFileSync(files.markdown, 'utf8');
  // fine-tuned GA: D_unlearn multimodal 78 -> 20; forgotten = 100·(1 - 22.5/77.5) = 71.0
  assert.match(md, /\| ga \| projector\+llm \| 78\.0 → 20\.0 \| 77\.0 → 25\.0 \| 76\.0 → 40\.0 \| 79\.0 → 45\.0 \| 82\.0 → 60\.0 \| 71\.0 \|/);
  assert.match(md, /!\[sustainability-lines\]\(charts\/sustainability-lines\.png\)/);
  const html = readFileSync(files.html, 'utf8');
  assert.ok(!/<script|<link|src="http|href="http/.test(html), 'no scripts and no external resources');
  assert.equal((html.match(/<svg/g) ?? []).length, 8);
});

test('with several seeds the tables show means with t intervals, matched forgetting and paired differences', async () => {
  const dir = writeRun(seededResults([0, 2, -1]));
  const md = readFileSync((await writeReport(dir)).markdown, 'utf8');
  // fine-tuned GA, D_unlearn overall 77.5 before; after 22.5 + (0, 2, -1): forgotten 70.97, 68.39, 72.26
  // mean 70.54, s = 1.971, t(0.975, 2) = 4.3027: half-width 4.896 -> [65.6, 75.4]
  assert.match(md, /\| ga \| projector\+llm \| 78\.0 → 20\.3 \| 77\.0 → 25\.3 \| 76\.0 → 40\.3 \| 79\.0 → 45\.3 \| 82\.0 → 60\.3 \| 70\.5 \[65\.6, 75\.4\] \|/);
  assert.match(md, /### Matched forgetting/);
  assert.match(md, /### Paired differences/);
  assert.match(md, /95% t interval of the mean across 3 seeds/);
  assert.match(md, /### Between scenarios \(same method, paired by seed\)/);
  assert.match(md, /\| ga_klr: fine_tuned − pre_trained \|/);
});

test('a partial run gets a report that says what is missing', async () => {
  const dir = writeRun(partialResults());
  const files = await writeReport(dir);
  const md = readFileSync(files.markdown, 'utf8');
  assert.match(md, /ga \[projector\+llm\] failed: ga: the loss became NaN at step 3 of 120/);
  assert.match(md, /skipped: behaviour-based selection kept 30 celebrities/);
  assert.match(md, /npo \[projector\+llm\] has not finished \(2 of 5 requests\)/);
  assert.match(md, /\| ga \| projector\+llm \| 78\.0 → — \|/);
  assert.match(md, /_No results for this scenario\._/);
  assert.ok(!existsSync(join(dir, 'charts', 'radar-pre_trained.svg')));
});

test('two runs are compared with both runs\' series', async () => {
  const a = writeRun(completeResults('run-a'));
  const b = writeRun(completeResults('run-b'));
  const files = await writeReport([a, b]);
  const md = readFileSync(files.markdown, 'utf8');
  assert.match(md, /# PULSE comparison: run-a vs run-b/);
  assert.match(md, /\| npo \(run-a\) \|/);
  assert.match(md, /\| npo \(run-b\) \|/);
  assert.ok(readFileSync(join(a, 'compare-run-a-vs-run-b', 'charts', 'sustainability-lines.svg'), 'utf8').includes('ga_klr (run-b)'));
});

test('a results.json of pulse 0.1 (version 1) still gets a report', async () => {
  const v1 = JSON.parse(JSON.stringify(completeResults('old'))) as Record<string, any>;
  v1.version = 1;
  delete v1.summary;
  delete v1.run.seed_list;
  for (const s of v1.scenarios) {
    delete s.seed; delete s.before_by_request; delete s.oracle;
    for (const m of s.methods) for (const r of m.requests) { delete r.by_request; delete r.steps; delete r.stopped_early; delete r.trajectory; }
  }
  const dir = writeRun(v1 as Results);
  const md = readFileSync((await writeReport(dir)).markdown, 'utf8');
  assert.match(md, /\| ga \| projector\+llm \| 78\.0 → 20\.0 \|/);
});

test('an invalid or unknown-version results.json is a clear error naming the file and the field', async () => {
  const dir = writeRun(completeResults());
  const broken = completeResults() as unknown as { scenarios: { before: unknown }[] };
  broken.scenarios[0]!.before = { unlearn: 'x' };
  writeFileSync(join(dir, 'results.json'), JSON.stringify(broken));
  await assert.rejects(writeReport(dir), (e: unknown) => e instanceof PulseError && /results\.json: invalid results: scenarios\.0\.before\.unlearn/.test(e.message));
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ ...completeResults(), version: 9 }));
  await assert.rejects(writeReport(dir), /results version 9 is not supported/);
});

test('each attack that ran gets its own table: before → after, AUCs with modalities, cross-modal counts', async () => {
  const results = completeResults();
  const ga = results.scenarios[0]!.methods[0]!;
  const m = (overall: number, multimodal: number | null = null, text: number | null = null) => ({ overall, multimodal, text_only: text });
  ga.requests.at(-1)!.attacks = {
    relearn: { before: m(28.8, 30, 27.6), after: m(65.6, 60, 71.2) },
    mia: { auc_unlearn: m(0.6125, 0.6, 0.625), auc_retain: m(0.9, 0.88, 0.92) },
    cross_modal: { image_only: m(3), text_only: m(0), both: m(12) },
  };
  const md = readFileSync((await writeReport(writeRun(results))).markdown, 'utf8');
  assert.match(md, /Attack: Relearning on half of D_unlearn \(after the last request\)/);
  assert.match(md, /\| ga \| 28\.8 \(30\.0 \/ 27\.6\) → 65\.6 \(60\.0 \/ 71\.2\) \|/);
  // no privacy leakage without an oracle: the missing mark
  assert.match(md, /\| ga \| 0\.613 \(0\.600 \/ 0\.625\) \| 0\.900 \(0\.880 \/ 0\.920\) \| — \|/);
  assert.match(md, /\| ga \| 3 \| 0 \| 12 \|/);
  assert.doesNotMatch(md, /Relearning on D_retain only/, 'an attack that did not run has no table');
});
