import type { Series } from './series.ts';
import { meanOf } from './average.ts';

const MISSING = '—';
const pct = (v: number | null) => (v === null ? MISSING : v.toFixed(1));
const auc = (v: number | null) => (v === null ? MISSING : v.toFixed(3));

export const ATTACK_HEADER = [
  'method', 'relearn: held-out half of D_unlearn', 'relearn on D_retain: D_unlearn',
  'MIA AUC D_unlearn (multimodal / text-only)', 'MIA AUC D_retain', 'privacy leakage %',
  'ROUGE-L D_unlearn (multimodal / text-only) / D_retain', 'cloze exact match % D_unlearn / D_retain',
];

/** An attack metric after each seed's last request, averaged across seeds. */
function mean(series: Series, attack: string, metric: string, modality: 'overall' | 'multimodal' | 'text_only' = 'overall'): number | null {
  return meanOf(series.trials.map((t) => t.method.requests.at(-1)?.attacks?.[attack]?.[metric]?.[modality] ?? null));
}

/** The attacks' numbers after the last request, one row per series that ran any (means across seeds). */
export function attackTable(series: readonly Series[]): string[][] {
  return series.filter((s) => s.trials.some((t) => t.method.requests.at(-1)?.attacks)).map((s) => [
    s.label,
    `${pct(mean(s, 'relearn', 'before'))} → ${pct(mean(s, 'relearn', 'after'))}`,
    `${pct(mean(s, 'relearn_retain', 'before'))} → ${pct(mean(s, 'relearn_retain', 'after'))}`,
    `${auc(mean(s, 'mia', 'auc_unlearn'))} (${auc(mean(s, 'mia', 'auc_unlearn', 'multimodal'))} / ${auc(mean(s, 'mia', 'auc_unlearn', 'text_only'))})`,
    auc(mean(s, 'mia', 'auc_retain')),
    pct(mean(s, 'mia', 'privleak')),
    `${auc(mean(s, 'open_ended', 'rouge_l_unlearn'))} (${auc(mean(s, 'open_ended', 'rouge_l_unlearn', 'multimodal'))} / `
      + `${auc(mean(s, 'open_ended', 'rouge_l_unlearn', 'text_only'))}) / ${auc(mean(s, 'open_ended', 'rouge_l_retain'))}`,
    `${pct(mean(s, 'open_ended', 'cloze_unlearn'))} / ${pct(mean(s, 'open_ended', 'cloze_retain'))}`,
  ]);
}

export const ATTACK_NOTE = 'Accuracy % before → after k steps of relearning (LoRA on the update target): on the half of D_unlearn '
  + 'that was not relearned, and on D_unlearn after relearning D_retain only; accuracy that returns was hidden, not removed. '
  + 'MIA: AUC of the per-token answer loss separating D_unlearn (or D_retain) from people no model saw; 0.5 = cannot tell. '
  + 'Privacy leakage (MUSE) = 100·(AUC − AUC of the retain oracle)/AUC of the retain oracle: 0 = as private as a model that never saw D_unlearn. '
  + 'Open-ended: mean ROUGE-L F (0-1) of the greedy answers to the Generation_Task questions, and % of Mask_Task blanks answered exactly.';
