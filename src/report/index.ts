import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PulseError } from '../errors.ts';
import { loadRun, type LoadedRun } from './load.ts';
import { radarSpec } from './radar.ts';
import { sustainabilitySpec } from './lines.ts';
import { vegaToSvg, vegaLiteToSvg, svgToPng } from './render.ts';
import { seriesOf, scenarioNames } from './series.ts';
import { scenarioTitle } from '../protocol/scenarios.ts';
import { modalityTable, markdownTable, htmlTable, escapeHtml, TABLE_HEADER } from './tables.ts';

export interface ReportFiles { markdown: string; html: string; charts: string[] }

interface Section { scenario: string; title: string; sequential: boolean; notes: string[]; charts: { name: string; caption: string; svg: string }[]; rows: string[][] }

function notesFor(runs: readonly LoadedRun[], scenario: string): string[] {
  const notes: string[] = [];
  for (const run of runs) {
    const s = run.results.scenarios.find((x) => x.scenario === scenario);
    const who = runs.length > 1 ? `${run.label}: ` : '';
    if (!s) { notes.push(`${who}this scenario was not run.`); continue; }
    if (s.status === 'skipped') notes.push(`${who}skipped: ${s.note ?? 'no reason recorded'}`);
    if (s.note && s.status !== 'skipped') notes.push(`${who}${s.note}`);
    for (const m of s.methods) {
      if (m.status === 'failed') notes.push(`${who}${m.method} [${m.update_target}] failed: ${m.error ?? 'no reason recorded'}`);
      if (m.status === 'pending') notes.push(`${who}${m.method} [${m.update_target}] has not finished (${m.requests.length} of ${s.splits.requests.length} requests).`);
    }
    const sizes = `D_unlearn ${s.splits.unlearn.length} people, D_retain ${s.splits.retain.length}, ${s.splits.requests.length} request${s.splits.requests.length === 1 ? '' : 's'}`;
    notes.push(`${who}${sizes}${s.selection ? `; selection kept ${s.selection.kept.length} of ${s.selection.candidates} celebrities at >= ${s.selection.threshold}% in both modalities` : ''}.`);
  }
  return notes;
}

/**
 * Builds the report of one run, or the comparison of several, from their results.json alone:
 * report.md, a self-contained report.html (inline SVG and CSS), and charts/*.svg + *.png.
 */
export async function writeReport(runDirs: string | readonly string[], outDir?: string): Promise<ReportFiles> {
  const dirs = typeof runDirs === 'string' ? [runDirs] : [...runDirs];
  if (dirs.length === 0) throw new PulseError('no run folder given');
  const runs = dirs.map(loadRun);
  const out = outDir ?? (dirs.length === 1 ? dirs[0]! : join(dirs[0]!, `compare-${runs.map((r) => r.label).join('-vs-')}`));
  const chartsDir = join(out, 'charts');
  mkdirSync(chartsDir, { recursive: true });

  const sections: Section[] = [];
  for (const scenario of scenarioNames(runs)) {
    const series = seriesOf(runs, scenario);
    // a scenario of several requests gets a line per request as well as its radar
    const sequential = series.some((s) => s.scenario.splits.requests.length > 1);
    const title = series.find((s) => s.scenario.title)?.scenario.title ?? scenarioTitle(scenario);
    const charts: Section['charts'] = [];
    if (series.some((s) => s.method.requests.length > 0)) {
      charts.push({ name: `radar-${scenario}`, caption: `Forgotten % on D_unlearn and retained % on D_retain and the general benchmark after the ${sequential ? 'last request' : 'request'}, one polygon per method (further out is better on every axis).`, svg: await vegaToSvg(radarSpec(title, series)) });
      if (sequential) {
        charts.push({ name: `${scenario}-lines`, caption: 'Accuracy on D_unlearn (lower is better), D_retain and the general benchmark after each request; request 0 is the model before unlearning.', svg: await vegaLiteToSvg(sustainabilitySpec('Accuracy after each request', series)) });
      }
    }
    sections.push({ scenario, title, sequential, notes: notesFor(runs, scenario), charts, rows: modalityTable(series) });
  }

  const written: string[] = [];
  for (const section of sections) {
    for (const chart of section.charts) {
      const svgPath = join(chartsDir, `${chart.name}.svg`);
      const pngPath = join(chartsDir, `${chart.name}.png`);
      writeFileSync(svgPath, chart.svg);
      writeFileSync(pngPath, svgToPng(chart.svg));
      written.push(svgPath, pngPath);
    }
  }

  const head = runs.map((r) => {
    const run = r.results.run;
    return { label: r.label, lines: [`model ${run.model.name} (sha256 ${run.model.sha256.slice(0, 12)})`, `scoring: ${run.scoring}`, `preset: ${run.preset ?? 'none'}`, `seeds: ${Object.entries(run.seeds).map(([k, v]) => `${k} ${v}`).join(', ')}`, `started ${run.created_at}, ${run.finished_at ? `finished ${run.finished_at}` : 'not finished'}`] };
  });
  const title = runs.length === 1 ? `PULSE report: ${runs[0]!.label}` : `PULSE comparison: ${runs.map((r) => r.label).join(' vs ')}`;

  const md = [
    `# ${title}`, '',
    ...head.flatMap((h) => [`**${h.label}**: ${h.lines.join('; ')}`, '']),
    ...sections.flatMap((s) => [
      `## ${s.title}`, '',
      ...s.notes.map((n) => `- ${n}`), '',
      ...s.charts.flatMap((c) => [`![${c.name}](${relative(out, join(chartsDir, `${c.name}.png`))})`, '', `*${c.caption}*`, '']),
      s.rows.length ? markdownTable(TABLE_HEADER, s.rows) : '_No results for this scenario._', '',
      'Cells are accuracy % before → after (the last request). forgotten % = 100·(1 − after/before) on D_unlearn; retained % = 100·after/before.', '',
    ]),
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
${sections.map((s) => `<section data-scenario="${s.scenario}"><h2>${escapeHtml(s.title)}</h2>
<ul class="notes">${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
${s.sequential ? `<div class="charts">${s.charts.map(figure).join('')}</div>` : ''}
${s.rows.length ? htmlTable(TABLE_HEADER, s.rows) : '<p>No results for this scenario.</p>'}
<p class="notes">Cells are accuracy % before → after (the last request). forgotten % = 100·(1 − after/before) on D_unlearn; retained % = 100·after/before.</p></section>`).join('\n')}
</body></html>
`;
  const mdPath = join(out, 'report.md');
  const htmlPath = join(out, 'report.html');
  writeFileSync(mdPath, md);
  writeFileSync(htmlPath, html);
  return { markdown: mdPath, html: htmlPath, charts: written };
}
