import { ATTACKS } from '../attacks/registry.ts';
import type { Attack, AttackColumn } from '../attacks/attack.ts';
import type { Series } from './series.ts';
import { meanOf } from './average.ts';
import { MISSING } from './tables.ts';

type Modality = 'overall' | 'multimodal' | 'text_only';
const FORMAT: Record<AttackColumn['format'], (v: number) => string> = {
  percent: (v) => v.toFixed(1), auc: (v) => v.toFixed(3), count: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)),
};

/** An attack metric after each seed's last request, averaged across seeds. */
function mean(series: Series, attack: string, metric: string, modality: Modality): number | null {
  return meanOf(series.trials.map((t) => t.method.requests.at(-1)?.attacks?.[attack]?.[metric]?.[modality] ?? null));
}

function cell(series: Series, attack: string, column: AttackColumn): string {
  const value = (metric: string, modality: Modality = 'overall') => {
    const v = mean(series, attack, metric, modality);
    return v === null ? MISSING : FORMAT[column.format](v);
  };
  const shown = (metric: string) => (column.modalities ? `${value(metric)} (${value(metric, 'multimodal')} / ${value(metric, 'text_only')})` : value(metric));
  return column.then ? `${shown(column.metric)} → ${shown(column.then)}` : shown(column.metric);
}

const ran = (series: Series, attack: string) => series.trials.some((t) => t.method.requests.at(-1)?.attacks?.[attack]);

export interface AttackTable { title: string; header: string[]; rows: string[][]; note: string }

/** One table per attack that ran: a row per series, its numbers after the last request (means across seeds). */
export function attackTables(series: readonly Series[]): AttackTable[] {
  return [...ATTACKS.values()].flatMap((attack: Attack) => {
    const rows = series.filter((s) => ran(s, attack.name)).map((s) => [s.label, ...attack.report.columns.map((c) => cell(s, attack.name, c))]);
    if (rows.length === 0) return [];
    const modalities = attack.report.columns.some((c) => c.modalities) ? ' Cells with three numbers: overall (multimodal / text-only).' : '';
    return [{
      title: `Attack: ${attack.report.title} (after the last request)`,
      header: ['method', ...attack.report.columns.map((c) => c.label)],
      rows,
      note: attack.report.note + modalities,
    }];
  });
}
