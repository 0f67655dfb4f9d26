import type { OpenItem, PersonRecord } from '../data/records.ts';
import type { ByModality } from '../metrics/scores.ts';
import { clozeMatch, rougeL } from '../metrics/rouge.ts';
import type { Attack, AttackContext, AttackScores } from './attack.ts';

/**
 * The prompts are the items' own text, with no instruction added: MLLMU-Bench's generation
 * instruction ("Answer the question based on your trained knowledge in one sentence ...") is not
 * in the embedded model's closed vocabulary (each word would be one <unk>), and fine-tuning teaches
 * the bare questions. A cloze prompt is the Mask_Task statement with its `__` blank; the model's
 * answer is compared with the blank's ground truth.
 */
// The budgets (attack_settings.open_ended) bound the attack's cost, one forward pass per token: a model that
// unlearned may never emit the end-of-answer token.
function answersTo(context: AttackContext, items: readonly OpenItem[], maxTokens: number): Promise<string[]> {
  if (items.length === 0) return Promise.resolve([]);
  return context.model.generate(items.map((i) => ({ image: i.image, prompt: i.prompt, answer: '' })), maxTokens, context.batchSize);
}

/** The mean of each modality's item scores, times `scale` (null where a modality has no item). */
function meanByModality(items: readonly OpenItem[], scores: readonly number[], scale: number): ByModality {
  const mean = (keep: (item: OpenItem) => boolean) => {
    const chosen = scores.filter((_, i) => keep(items[i]!));
    return chosen.length ? (scale * chosen.reduce((a, b) => a + b, 0)) / chosen.length : null;
  };
  return { overall: mean(() => true), multimodal: mean((i) => i.modality === 'multimodal'), text_only: mean((i) => i.modality === 'text') };
}

/** Mean ROUGE-L F-measure of the greedy answers to people's generation questions, in [0, 1]. */
export async function generationRouge(context: AttackContext, people: readonly PersonRecord[]): Promise<ByModality> {
  const items = people.flatMap((p) => p.generation);
  const answers = await answersTo(context, items, context.openEnded.generation_tokens);
  return meanByModality(items, answers.map((a, i) => rougeL(items[i]!.groundTruth, a)), 1);
}

/** Cloze exact match of the greedy answers to people's cloze statements, in % (as the accuracies). */
export async function clozeExactMatch(context: AttackContext, people: readonly PersonRecord[]): Promise<ByModality> {
  const items = people.flatMap((p) => p.cloze);
  const answers = await answersTo(context, items, context.openEnded.cloze_tokens);
  return meanByModality(items, answers.map((a, i) => clozeMatch(items[i]!.groundTruth, a)), 100);
}

/**
 * Open-ended recall: a model that only stopped picking the right option may still say the answer.
 * Greedy answers to D_unlearn's Generation_Task questions, scored by ROUGE-L against the ground
 * truth, and to its Mask_Task statements, scored by exact match of the blank. D_unlearn only: generation
 * costs a forward pass per token, and D_retain as well would take the attack battery past half the time
 * of a paper run (bench:protocol); D_retain's knowledge is tracked by its accuracy at every scoring point.
 * Generation runs without a graph and changes no weight.
 */
export const openEndedAttack: Attack = {
  name: 'open_ended',
  description: "greedy answers to D_unlearn's Generation_Task (ROUGE-L F) and Mask_Task (cloze exact match %)",
  report: {
    title: 'Open-ended answers',
    columns: [
      { label: 'ROUGE-L D_unlearn', metric: 'rouge_l_unlearn', format: 'auc', modalities: true },
      { label: 'cloze exact match % D_unlearn', metric: 'cloze_unlearn', format: 'percent', modalities: true },
    ],
    note: "Greedy answers to D_unlearn's Generation_Task questions, ROUGE-L F-measure against the ground truth (0 to 1), "
      + 'and to their Mask_Task statements, exact match of the blank (%). A model that only stopped picking the right option may still say it.',
  },
  run: async (context): Promise<AttackScores> => ({
    rouge_l_unlearn: await generationRouge(context, context.unlearn),
    cloze_unlearn: await clozeExactMatch(context, context.unlearn),
  }),
};
