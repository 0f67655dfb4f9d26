import type { Series } from './series.ts';
import { meanOf } from './average.ts';

const MISSING = '—';
const pct = (v: number | null) => (v === null ? MISSING : v.toFixed(1));
const auc = (v: number | null) => (v === null ? MISSING : v.toFixed(3));

// The paraphrase attack's columns: original questions → Test_Set (paraphrases, other views of the face), same people.
const PARAPHRASE_HEADER = ['paraphrase D_unlearn: original → Test_Set (multimodal / text-only)', 'paraphrase D_retain: original → Test_Set'];
function paraphraseCells(s: Series): string[] {
  const arrow = (set: string, m?: 'multimodal' | 'text_only') => `${pct(mean(s, 'paraphrase', `original_${set}`, m))} → ${pct(mean(s, 'paraphrase', `test_set_${set}`, m))}`;
  return [`${arrow('unlearn')} (${arrow('unlearn', 'multimodal')} / ${arrow('unlearn', 'text_only')})`, arrow('retain')];
}

export const ATTACK_HEADER = [
  'method', 'relearn: held-out half of D_unlearn', 'relearn on D_retain: D_unlearn',
  'MIA AUC D_unlearn (multimodal / text-only)', 'MIA AUC D_retain', 'privacy leakage %',
  ...PARAPHRASE_HEADER,
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
    ...paraphraseCells(s),
  ]);
}

export const ATTACK_NOTE = 'Accuracy % before → after k steps of relearning (LoRA on the update target): on the half of D_unlearn '
  + 'that was not relearned, and on D_unlearn after relearning D_retain only; accuracy that returns was hidden, not removed. '
  + 'MIA: AUC of the per-token answer loss separating D_unlearn (or D_retain) from people no model saw; 0.5 = cannot tell. '
  + 'Privacy leakage (MUSE) = 100·(AUC − AUC of the retain oracle)/AUC of the retain oracle: 0 = as private as a model that never saw D_unlearn.'
  + ' Paraphrase: accuracy % on the original questions → on the Test_Set (paraphrased, multimodal ones on other views of the face) of the '
  + 'same people (those with a Test_Set); a Test_Set accuracy well above the original one is forgetting of the wording, not the fact.';
