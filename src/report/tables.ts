import type { Accuracy } from '../metrics/scores.ts';
import { lastScores, type Series } from './series.ts';
import { intervalOf, summaryCell, withInterval } from './intervals.ts';

export const MISSING = '—';

const pct = (v: number | null | undefined) => (v === null || v === undefined ? MISSING : v.toFixed(1));
const change = (before: number | null | undefined, after: number | null | undefined) => `${pct(before)} → ${pct(after)}`;

export interface TableRow {
  method: string;
  target: string;
  status: string;
  cells: string[];
}

export const TABLE_HEADER = [
  'method', 'update target',
  'D_unlearn multimodal', 'D_unlearn text-only',
  'D_retain multimodal', 'D_retain text-only',
  'general', 'forgotten %', 'toward oracle %', 'retained % (D_retain)', 'retained % (general)', 'status',
];

/**
 * Accuracy by modality and update target, before → after the last request, per method of one
 * scenario (means across seeds), and the relative scores with their intervals. A method without
 * results shows — and its status says why.
 */
export function modalityTable(series: readonly Series[]): string[][] {
  return series.map((s) => {
    const before = s.scenario.before;
    const after = lastScores(s);
    const last = s.method.requests.at(-1);
    const pair = (set: 'unlearn' | 'retain' | 'general', m: keyof Pick<Accuracy, 'multimodal' | 'text_only' | 'overall'>) => change(before?.[set][m], after?.[set][m]);
    const status = s.method.status === 'failed' ? `failed: ${s.method.error ?? 'no reason recorded'}`
      : s.method.status === 'pending' ? `pending (${s.method.requests.length} of ${s.scenario.splits.requests.length} requests done)` : 'complete';
    return [
      s.label, s.method.update_target,
      pair('unlearn', 'multimodal'), pair('unlearn', 'text_only'),
      pair('retain', 'multimodal'), pair('retain', 'text_only'),
      pair('general', 'overall'),
      withInterval(last?.relative.forgotten_unlearn.overall, intervalOf(s, 'forgotten_unlearn')),
      withInterval(summaryCell(s, 'toward_oracle')?.across_seeds?.estimate, intervalOf(s, 'toward_oracle')),
      withInterval(last?.relative.retained_retain.overall, intervalOf(s, 'retained_retain')),
      withInterval(last?.relative.retained_general.overall, intervalOf(s, 'retained_general')),
      status,
    ];
  });
}

export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${header.map(cell).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function htmlTable(header: readonly string[], rows: readonly string[][]): string {
  return `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}
