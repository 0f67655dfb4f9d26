import { membershipAuc } from '../metrics/auc.ts';
import type { ByModality } from '../metrics/scores.ts';
import type { Example, PersonRecord } from '../data/records.ts';
import { noGrad, scope } from '../torch/index.ts';
import type { Attack, AttackContext, AttackScores } from './attack.ts';

/** Per-token NLL of each example's answer, in chunks of the scoring batch size. */
async function losses(context: AttackContext, examples: readonly Example[]): Promise<number[]> {
  const out: number[] = [];
  for (let s = 0; s < examples.length; s += context.batchSize) {
    const batch = await context.model.encode(examples.slice(s, s + context.batchSize));
    try {
      out.push(...noGrad(() => scope(() => {
        const { sum, tokens } = context.model.answerLogProbs(batch);
        const [sums, counts] = [sum.toArray(), tokens.toArray()];
        return Array.from(sums, (v, i) => -v / counts[i]!);
      })));
    } finally {
      batch.dispose();
    }
  }
  return out;
}

/**
 * Per-token NLLs of people's training examples, by modality. Each modality is encoded on its own:
 * a model may order a mixed batch's rows by modality.
 */
async function lossesByModality(context: AttackContext, people: readonly PersonRecord[]): Promise<{ multimodal: number[]; text: number[] }> {
  const examples = people.flatMap((p) => p.training);
  return {
    multimodal: await losses(context, examples.filter((e) => e.image !== undefined)),
    text: await losses(context, examples.filter((e) => e.image === undefined)),
  };
}

type Losses = Awaited<ReturnType<typeof lossesByModality>>;

/** AUC of members against non-members, by modality (an example with an image is multimodal). */
function aucByModality(m: Losses, n: Losses): ByModality {
  return {
    overall: membershipAuc([...m.multimodal, ...m.text], [...n.multimodal, ...n.text]),
    multimodal: membershipAuc(m.multimodal, n.multimodal),
    text_only: membershipAuc(m.text, n.text),
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
 * Loss-based membership inference: how well the per-token answer NLL separates D_unlearn's
 * examples from those of people no model of the run saw (AUC; 0.5 = cannot tell, as for a model
 * that never saw D_unlearn). D_retain against the same unseen people is the seen-and-kept baseline.
 */
export const membershipAttack: Attack = {
  name: 'mia',
  description: 'loss-based membership inference: AUC of D_unlearn (and D_retain) against unseen people',
  report: {
    title: 'Membership inference',
    columns: [
      { label: 'AUC D_unlearn', metric: 'auc_unlearn', format: 'auc', modalities: true },
      { label: 'AUC D_retain', metric: 'auc_retain', format: 'auc', modalities: true },
      { label: 'privacy leakage %', metric: 'privleak', format: 'percent' },
    ],
    note: 'AUC of the per-token answer loss separating D_unlearn (or D_retain) from people no model saw; 0.5 = cannot tell. '
      + 'Privacy leakage (MUSE) = 100·(AUC − AUC of the retain oracle)/AUC of the retain oracle: 0 = as private as a model that never saw D_unlearn.',
  },
  run: async (context) => {
    const unseen = await lossesByModality(context, context.unseen);
    const scores: AttackScores = {
      auc_unlearn: aucByModality(await lossesByModality(context, context.unlearn), unseen),
      auc_retain: aucByModality(await lossesByModality(context, context.retain), unseen),
    };
    if (context.oracleMia) scores.privleak = privacyLeakage(scores.auc_unlearn!, context.oracleMia);
    return scores;
  },
};
