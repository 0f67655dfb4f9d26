import { membershipAuc, minKPercentScore } from '../metrics/auc.ts';
import type { ByModality } from '../metrics/scores.ts';
import type { Example, PersonRecord } from '../data/records.ts';
import { noGrad, scope } from '../torch/index.ts';
import type { Attack, AttackContext, AttackScores } from './attack.ts';

/**
 * Min-K%'s k: the 20% least likely answer tokens, the k Shi et al. (2024, "Detecting Pretraining Data from Large
 * Language Models") run their experiments with (their ablation finds k = 20 best; MUSE's privleak code sweeps 5-60%).
 */
export const MIN_K_PERCENT = 20;

/** Two membership scores per example, each lower for members: the per-token answer NLL and Min-K%. */
interface Scores { loss: number[]; minK: number[] }

/**
 * Both scores of each example's answer, in chunks of the scoring batch size, from one forward pass:
 * loss = −(1/n)·Σ_t log p(y_t | x, y_<t) over the n answer tokens; Min-K% = −mean of the ceil(k·n/100) lowest of them.
 */
async function scores(context: AttackContext, examples: readonly Example[]): Promise<Scores> {
  const out: Scores = { loss: [], minK: [] };
  for (let s = 0; s < examples.length; s += context.batchSize) {
    const batch = await context.model.encode(examples.slice(s, s + context.batchSize));
    try {
      const { values, counts } = noGrad(() => scope(() => {
        const perToken = context.model.answerTokenLogProbs(batch);
        return { values: perToken.values.toArray(), counts: perToken.tokens.toArray() };
      }));
      let at = 0;
      for (const n of counts) {
        const row = values.slice(at, (at += n));
        out.loss.push(-row.reduce((a, b) => a + b, 0) / n);
        out.minK.push(minKPercentScore(row, MIN_K_PERCENT));
      }
    } finally {
      batch.dispose();
    }
  }
  return out;
}

/**
 * Membership scores of people's training examples, by modality. Each modality is encoded on its own:
 * a model may order a mixed batch's rows by modality.
 */
async function scoresByModality(context: AttackContext, people: readonly PersonRecord[]): Promise<{ multimodal: Scores; text: Scores }> {
  const examples = people.flatMap((p) => p.training);
  return {
    multimodal: await scores(context, examples.filter((e) => e.image !== undefined)),
    text: await scores(context, examples.filter((e) => e.image === undefined)),
  };
}

type ModalityScores = Awaited<ReturnType<typeof scoresByModality>>;

/** AUC of members against non-members on one score, by modality (an example with an image is multimodal). */
function aucByModality(m: ModalityScores, n: ModalityScores, score: keyof Scores): ByModality {
  return {
    overall: membershipAuc([...m.multimodal[score], ...m.text[score]], [...n.multimodal[score], ...n.text[score]]),
    multimodal: membershipAuc(m.multimodal[score], n.multimodal[score]),
    text_only: membershipAuc(m.text[score], n.text[score]),
  };
}

/**
 * MUSE's privacy leakage: 100·(AUC_unlearned − AUC_oracle)/AUC_oracle, on D_unlearn against unseen
 * people; 0 = as private as a model that never saw D_unlearn, > 0 = still leaks membership,
 * < 0 = over-unlearned (D_unlearn now looks less familiar than to a model that never saw it).
 */
export function privacyLeakage(unlearned: ByModality, oracle: ByModality): ByModality {
  const leak = (a: number | null, o: number | null) => (a === null || o === null || o === 0 ? null : (100 * (a - o)) / o);
  return { overall: leak(unlearned.overall, oracle.overall), multimodal: leak(unlearned.multimodal, oracle.multimodal), text_only: leak(unlearned.text_only, oracle.text_only) };
}

/**
 * Membership inference: how well the per-token answer NLL (auc_*) and Min-K% (mink_auc_*) separate D_unlearn's
 * examples from those of people no model of the run saw (AUC; 0.5 = cannot tell, as for a model that never saw
 * D_unlearn). D_retain against the same unseen people is the seen-and-kept baseline. Both scores come from the same
 * forward passes.
 */
export const membershipAttack: Attack = {
  name: 'mia',
  description: 'membership inference (loss and Min-K%): AUC of D_unlearn (and D_retain) against unseen people',
  report: {
    title: 'Membership inference',
    columns: [
      { label: 'AUC D_unlearn', metric: 'auc_unlearn', format: 'auc', modalities: true },
      { label: 'AUC D_retain', metric: 'auc_retain', format: 'auc', modalities: true },
      { label: 'privacy leakage %', metric: 'privleak', format: 'percent' },
      { label: 'Min-K% AUC D_unlearn', metric: 'mink_auc_unlearn', format: 'auc', modalities: true },
      { label: 'Min-K% AUC D_retain', metric: 'mink_auc_retain', format: 'auc', modalities: true },
    ],
    note: 'AUC of the per-token answer loss separating D_unlearn (or D_retain) from people no model saw; 0.5 = cannot tell. '
      + 'Privacy leakage (MUSE) = 100·(AUC − AUC of the retain oracle)/AUC of the retain oracle: 0 = as private as a model that never saw D_unlearn. '
      + `Min-K%: the same AUC on the mean negative log-probability of each answer's ${MIN_K_PERCENT}% least likely tokens (Shi et al. 2024).`,
  },
  run: async (context) => {
    const unseen = await scoresByModality(context, context.unseen);
    const [unlearn, retain] = [await scoresByModality(context, context.unlearn), await scoresByModality(context, context.retain)];
    const scores: AttackScores = {
      auc_unlearn: aucByModality(unlearn, unseen, 'loss'),
      auc_retain: aucByModality(retain, unseen, 'loss'),
      mink_auc_unlearn: aucByModality(unlearn, unseen, 'minK'),
      mink_auc_retain: aucByModality(retain, unseen, 'minK'),
    };
    if (context.oracleMia) scores.privleak = privacyLeakage(scores.auc_unlearn!, context.oracleMia);
    return scores;
  },
};
