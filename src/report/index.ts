import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.ts';
import { joinInside } from '../names.ts';
import { shortJsonHash } from '../hash.ts';
import { join, relative } from 'node:path';
import { PulseError } from '../errors.ts';
import { loadRun, type LoadedRun } from './load.ts';
import { radarSpec } from './radar.ts';
import { perRequestSpec, sustainabilitySpec } from './lines.ts';
import { matchedSpec, tradeOffSpec } from './tradeoff.ts';
import { DIFFERENCE_HEADER, MATCHED_HEADER, differenceTable, intervalNote, matchedTable } from './intervals.ts';
import { crossModalLeakage, questionFlips } from './leakage.ts';
import { attackTables } from './attacks.ts';
import { BEST_HEADER, PARETO_HEADER, bestPointTable, hasGrid, paretoSpec, paretoTable } from './grid.ts';
import { readSamples, type SampleRow } from '../protocol/samples-file.ts';
import type { Difference } from '../protocol/summary-schema.ts';
import { vegaToSvg, vegaLiteToSvg, svgToPng } from './render.ts';
import { seriesOf, scenarioNames, type Series } from './series.ts';
import { scenarioTitle } from '../protocol/scenarios.ts';
import { modalityTable, markdownTable, htmlTable, escapeHtml, MISSING, TABLE_HEADER } from './tables.ts';

export interface ReportFiles { markdown: string; html: string; charts: string[] }

interface Table { title: string; header: readonly string[]; rows: string[][]; note: string }
interface Chart { name: string; caption: string; svg: string }
interface Section { scenario: string; title: string; sequential: boolean; notes: string[]; charts: Chart[]; tables: Table[] }

function notesFor(runs: readonly LoadedRun[], scenario: string): string[] {
  const notes: string[] = [];
  for (const run of runs) {
    const records = run.results.scenarios.filter((x) => x.scenario === scenario);
    const who = runs.length > 1 ? `${run.label}: ` : '';
    if (records.length === 0) { notes.push(`${who}this scenario was not run.`); continue; }
    for (const s of records) {
      const seed = records.length > 1 || run.results.run.seed_list.length > 1 ? `seed ${s.seed}: ` : '';
      if (s.status === 'skipped') notes.push(`${who}${seed}skipped: ${s.note ?? 'no reason recorded'}`);
      if (s.note && s.status !== 'skipped') notes.push(`${who}${seed}${s.note}`);
      for (const m of s.methods) {
        if (m.status === 'failed') notes.push(`${who}${seed}${m.method} [${m.update_target}] failed: ${m.error ?? 'no reason recorded'}`);
        if (m.status === 'pending') notes.push(`${who}${seed}${m.method} [${m.update_target}] has not finished (${m.requests.length} of ${s.splits.requests.length} requests).`);
        const stopped = m.requests.filter((r) => r.stopped_early).length;
        if (stopped) notes.push(`${who}${seed}${m.method} [${m.update_target}]: ${stopped} request(s) ended early at unlearn.stop_at_forgotten.`);
      }
    }
    const s = records[0]!;
    const seeds = records.map((r) => r.seed);
    const sizes = `D_unlearn ${s.splits.unlearn.length} people, D_retain ${s.splits.retain.length}, ${s.splits.requests.length} request${s.splits.requests.length === 1 ? '' : 's'}`;
    notes.push(`${who}${sizes}${seeds.length > 1 ? `, seeds ${seeds.join(', ')} (each its own split)` : ''}`
      + `${s.selection ? `; selection kept ${s.selection.kept.length} of ${s.selection.candidates} celebrities at >= ${s.selection.threshold}% in both modalities` : ''}.`);
  }
  return notes;
}

const RELATIVE_NOTE = 'Cells are accuracy % before → after (the last request; means across seeds). forgotten % = 100·(1 − after/before) on D_unlearn; '
  + 'toward oracle % = 100·(before − after)/(before − oracle) on D_unlearn, 100 where the retain oracle is; retained % = 100·after/before.';

/** What each chart shows, under it in the report. */
const CAPTIONS = {
  radar: (sequential: boolean) => `Forgotten % on D_unlearn and retained % on D_retain and the general benchmark after the ${sequential ? 'last ' : ''}`
    + 'request, one polygon per method (further out is better on every axis).',
  tradeoff: 'Trade-off as the requests proceed: forgotten % on D_unlearn against retained % at every scoring point (eval.every), '
    + 'one line per method and seed, from the start (0, 100). Dashed: the forgetting of the retain oracle and of chance.',
  matched: 'Retained % where forgotten % on D_unlearn first reaches 25, 50 and 75% (mean across the seeds that got there; '
    + 'bars: 95% t interval); a method without a point never got there.',
  lines: 'Accuracy on D_unlearn (lower is better), D_retain and the general benchmark after each request (mean across seeds; '
    + 'band: 95% t interval); request 0 is the model before unlearning. Dashed: chance and the retain oracle.',
  perRequest: "Accuracy on each request's people of D_unlearn after each request: whether a later request deepens or undoes "
    + "an earlier one's forgetting.",
  pareto: 'Every grid point and method after the last request (means across seeds): forgotten % on D_unlearn against retained %; '
    + 'the dashed line joins the Pareto front, the points no other point beats on both.',
};

async function chartsFor(scenario: string, title: string, series: readonly Series[], sequential: boolean): Promise<Chart[]> {
  if (!series.some((s) => s.method.requests.length > 0)) return [];
  const charts: Chart[] = [
    { name: `radar-${scenario}`, caption: CAPTIONS.radar(sequential), svg: await vegaToSvg(radarSpec(title, series)) },
    { name: `${scenario}-tradeoff`, caption: CAPTIONS.tradeoff, svg: await vegaLiteToSvg(tradeOffSpec('Forgetting against what is kept', series)) },
  ];
  const matched = matchedSpec('Retained at matched forgetting', series);
  if (matched) charts.push({ name: `${scenario}-matched`, caption: CAPTIONS.matched, svg: await vegaLiteToSvg(matched) });
  const pareto = hasGrid(series) ? paretoSpec('Grid points: the Pareto front', series) : null;
  if (pareto) charts.push({ name: `${scenario}-pareto`, caption: CAPTIONS.pareto, svg: await vegaLiteToSvg(pareto) });
  if (sequential) {
    charts.push(
      { name: `${scenario}-lines`, caption: CAPTIONS.lines, svg: await vegaLiteToSvg(sustainabilitySpec('Accuracy after each request', series)) },
      { name: `${scenario}-per-request`, caption: CAPTIONS.perRequest, svg: await vegaLiteToSvg(perRequestSpec("Each request's people", series)) },
    );
  }
  return charts;
}

function tablesFor(runs: readonly LoadedRun[], series: readonly Series[], scenario: string, samples: Map<string, SampleRow[] | null>): Table[] {
  const seeds = Math.max(1, ...series.map((s) => s.trials.length));
  const summary = runs.find((r) => r.results.summary)?.results.summary ?? null;
  const note = `${RELATIVE_NOTE} ${intervalNote(summary, seeds)}`.trim();
  const tables: Table[] = [{ title: 'Accuracy by modality', header: TABLE_HEADER, rows: modalityTable(series), note }];
  tables.push(...attackTables(series));
  const matched = matchedTable(series);
  if (matched.length) tables.push({ title: 'Matched forgetting', header: MATCHED_HEADER, rows: matched, note: MATCHED_NOTE });
  if (hasGrid(series)) tables.push(...gridTables(series));
  for (const run of runs) {
    const within = (d: Difference) => d.a.scenario === scenario && d.b.scenario === scenario;
    const pairs = differenceTable(run.results.summary, within, (d) => `${armName(d.a)} − ${armName(d.b)}`);
    if (pairs.length && run.results.run.seed_list.length > 1) {
      tables.push({ title: `Paired differences${runs.length > 1 ? ` (${run.label})` : ''}`, header: DIFFERENCE_HEADER, rows: pairs, note: DIFFERENCE_NOTE });
    }
    const rows = samples.get(run.dir);
    if (rows) tables.push(...leakageTables(run, rows, scenario, runs.length > 1));
  }
  return tables;
}

const MATCHED_NOTE = 'Retained % where forgotten % on D_unlearn first reaches 25, 50 and 75%, interpolated along the trade-off path; '
  + '"not reached" when a method never got there. [a, b]: 95% t interval across the seeds that got there (none with one seed).';
const DIFFERENCE_NOTE = 'a − b in percentage points on the same seeds (so the same splits), with the 95% t interval of the per-seed '
  + 'differences; * marks an interval that excludes 0: a difference larger than the noise.';
const BEST_NOTE = 'Per method, the grid point with the highest retained % where forgotten % on D_unlearn first reaches 25, 50 and 75% '
  + '(as in Matched forgetting), among the points that got there in every seed; [a, b]: its 95% t interval across seeds.';
const PARETO_NOTE = 'The grid points and methods no other beats on both forgotten % and retained % after the last request '
  + '(means across seeds), by forgotten %; "on the front of" names the retained set (D_retain, general) whose front holds the point.';

function gridTables(series: readonly Series[]): Table[] {
  const best = bestPointTable(series);
  const front = paretoTable(series);
  return [
    ...(best.length ? [{ title: 'Best grid point at matched forgetting', header: BEST_HEADER, rows: best, note: BEST_NOTE }] : []),
    ...(front.length ? [{ title: 'Pareto front of the grid points', header: PARETO_HEADER, rows: front, note: PARETO_NOTE }] : []),
  ];
}

const armName = (a: { method: string; update_target: string }) => `${a.method}${a.update_target === 'projector+llm' ? '' : ` [${a.update_target}]`}`;

function leakageTables(run: LoadedRun, samples: readonly SampleRow[], scenario: string, named: boolean): Table[] {
  const suffix = named ? ` (${run.label})` : '';
  const flips = questionFlips(run.results, samples).filter((f) => f.scenario === scenario);
  const leaks = crossModalLeakage(run.results, samples).filter((l) => l.scenario === scenario);
  if (flips.length === 0) return [];
  const flipRows = [...new Set(flips.map((f) => `${armName(f)}|${f.seed}`))].map((key) => {
    const [arm, seed] = key.split('|');
    const own = flips.filter((f) => `${armName(f)}|${f.seed}` === key);
    const cell = (m: 'multimodal' | 'text') => { const f = own.find((x) => x.modality === m); return f ? `${f.right_to_wrong} / ${f.wrong_to_right} of ${f.questions}` : MISSING; };
    return [arm!, seed!, cell('multimodal'), cell('text'), String(leaks.filter((l) => armName(l) === arm && String(l.seed) === seed).length)];
  });
  const shown = leaks.slice(0, 30);
  const leakRows = shown.map((l) => [armName(l), String(l.seed), l.person, l.forgotten_in === 'multimodal' ? 'with the image' : 'by name',
    `${l.multimodal.before} → ${l.multimodal.after} of ${l.multimodal.n}`, `${l.text.before} → ${l.text.after} of ${l.text.n}`]);
  return [
    { title: `Questions that flipped on D_unlearn${suffix}`, header: ['method', 'seed', 'multimodal right→wrong / wrong→right', 'text-only right→wrong / wrong→right', 'people leaking across modalities'], rows: flipRows,
      note: 'From samples.parquet: each D_unlearn question answered by the start model and after the last request.' },
    ...(leakRows.length ? [{ title: `Cross-modal leakage${suffix}`, header: ['method', 'seed', 'person', 'forgotten', 'multimodal right', 'text-only right'], rows: leakRows,
      note: `People forgotten in one modality (right before, none right after) but still answered in the other (at least half right).${leaks.length > shown.length ? ` The first ${shown.length} of ${leaks.length}.` : ''}` }] : []),
  ];
}

function markdownSection(t: Table): string[] {
  return [`### ${t.title}`, '', markdownTable(t.header, t.rows), '', t.note, ''];
}

function htmlSection(t: Table): string {
  return `<h3>${escapeHtml(t.title)}</h3>${htmlTable(t.header, t.rows)}<p class="notes">${escapeHtml(t.note)}</p>`;
}

/** Each run's per-question records, when its folder has them (a run that has not finished has none yet). */
async function loadSamples(runs: readonly LoadedRun[]): Promise<Map<string, SampleRow[] | null>> {
  const out = new Map<string, SampleRow[] | null>();
  for (const run of runs) {
    const path = join(run.dir, 'samples.parquet');
    out.set(run.dir, existsSync(path) ? await readSamples(path) : null);
  }
  return out;
}

/** The folder of a comparison, from the runs' names (each checked by loadRun); shortened with a hash past a file name's length. */
function comparisonName(labels: readonly string[]): string {
  const name = `compare-${labels.join('-vs-')}`;
  return name.length <= 200 ? name : `compare-${labels[0]}-and-${labels.length - 1}-more-${shortJsonHash(labels)}`;
}

/**
 * Builds the report of one run, or the comparison of several, from their results.json (and
 * samples.parquet where there is one): report.md, a self-contained report.html (inline SVG and
 * CSS), and charts/*.svg + *.png.
 */
export async function writeReport(runDirs: string | readonly string[], outDir?: string): Promise<ReportFiles> {
  const dirs = typeof runDirs === 'string' ? [runDirs] : [...runDirs];
  if (dirs.length === 0) throw new PulseError('no run folder given');
  const runs = dirs.map(loadRun);
  const out = outDir ?? (dirs.length === 1 ? dirs[0]! : joinInside(dirs[0]!, comparisonName(runs.map((r) => r.label))));
  const chartsDir = join(out, 'charts');
  const samples = await loadSamples(runs);

  const sections: Section[] = [];
  for (const scenario of scenarioNames(runs)) {
    const series = seriesOf(runs, scenario);
    // a scenario of several requests gets a line per request as well as its radar
    const sequential = series.some((s) => s.scenario.splits.requests.length > 1);
    const title = series.find((s) => s.scenario.title)?.scenario.title ?? scenarioTitle(scenario);
    const tables = series.length ? tablesFor(runs, series, scenario, samples) : [];
    sections.push({ scenario, title, sequential, notes: notesFor(runs, scenario), charts: await chartsFor(scenario, title, series, sequential), tables });
  }
  const across = runs.flatMap((run) => differenceTable(run.results.summary, (d) => d.a.scenario !== d.b.scenario,
    (d) => `${armName(d.a)}: ${d.a.scenario} − ${d.b.scenario}${runs.length > 1 ? ` (${run.label})` : ''}`));
  const acrossTable: Table | null = across.length && runs.some((r) => r.results.run.seed_list.length > 1)
    ? { title: 'Between scenarios (same method, paired by seed)', header: DIFFERENCE_HEADER, rows: across, note: DIFFERENCE_NOTE } : null;

  const written: string[] = [];
  for (const section of sections) {
    for (const chart of section.charts) {
      const svgPath = joinInside(chartsDir, `${chart.name}.svg`);
      const pngPath = joinInside(chartsDir, `${chart.name}.png`);
      await writeFileAtomic(svgPath, chart.svg);
      await writeFileAtomic(pngPath, svgToPng(chart.svg));
      written.push(svgPath, pngPath);
    }
  }

  const head = runs.map((r) => {
    const run = r.results.run;
    return { label: r.label, lines: [`model ${run.model.name} (sha256 ${run.model.sha256.slice(0, 12)})`, `scoring: ${run.scoring}`, `preset: ${run.preset ?? 'none'}`, `seeds: ${Object.entries(run.seeds).map(([k, v]) => `${k} ${v}`).join(', ')}; the protocol ran with seed${run.seed_list.length > 1 ? 's' : ''} ${run.seed_list.join(', ')}`, `started ${run.created_at}${run.finished_at || r.results.summary ? '' : ', not finished'}`,
      ...(run.plugins ?? []).map((p) => `plug-in ${p.path} (sha256 ${p.sha256.slice(0, 12)}): ${p.methods.join(', ')}`)] };
  });
  const title = runs.length === 1 ? `PULSE report: ${runs[0]!.label}` : `PULSE comparison: ${runs.map((r) => r.label).join(' vs ')}`;

  const md = [
    `# ${title}`, '',
    ...head.flatMap((h) => [`**${h.label}**: ${h.lines.join('; ')}`, '']),
    ...sections.flatMap((s) => [
      `## ${s.title}`, '',
      ...s.notes.map((n) => `- ${n}`), '',
      ...s.charts.flatMap((c) => [`![${c.name}](${relative(out, join(chartsDir, `${c.name}.png`))})`, '', `*${c.caption}*`, '']),
      ...(s.tables.length ? s.tables.flatMap(markdownSection) : ['_No results for this scenario._', '']),
    ]),
    ...(acrossTable ? markdownSection(acrossTable) : []),
  ].join('\n');

  const css = `body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left}th{background:#f4f4f4}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}.chart{flex:0 1 auto;margin:0}.chart figcaption{font-size:.8em;color:#555;max-width:460px}.notes{color:#444;font-size:.9em}.run{font-size:.9em;color:#444}`;
  const radars = sections.filter((s) => !s.sequential).flatMap((s) => s.charts.filter((c) => c.name.startsWith('radar')));
  const figure = (c: Section['charts'][number]) => `<figure class="chart" data-chart="${escapeHtml(c.name)}">${c.svg}<figcaption>${escapeHtml(c.caption)}</figcaption></figure>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${css}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
${head.map((h) => `<p class="run"><strong>${escapeHtml(h.label)}</strong>: ${h.lines.map(escapeHtml).join('; ')}</p>`).join('\n')}
${radars.length ? `<h2>Fine-tuned vs pre-trained knowledge</h2><div class="charts">${radars.map(figure).join('')}</div>` : ''}
${acrossTable ? htmlSection(acrossTable) : ''}
${sections.map((s) => `<section data-scenario="${s.scenario}"><h2>${escapeHtml(s.title)}</h2>
<ul class="notes">${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
<div class="charts">${s.charts.filter((c) => s.sequential || !radars.includes(c)).map(figure).join('')}</div>
${s.tables.length ? s.tables.map(htmlSection).join('\n') : '<p>No results for this scenario.</p>'}</section>`).join('\n')}
</body></html>
`;
  const mdPath = join(out, 'report.md');
  const htmlPath = join(out, 'report.html');
  await writeFileAtomic(mdPath, md);
  await writeFileAtomic(htmlPath, html);
  return { markdown: mdPath, html: htmlPath, charts: written };
}
