import type { PersonRecord } from '../data/records.ts';
import { scoreQuestions } from '../protocol/evaluate.ts';
import type { Attack, AttackContext, AttackScores } from './attack.ts';
import { accuracyNow, byModality } from './scoring.ts';

/**
 * Accuracy (%) on the people's original questions and on their Test_Set questions (paraphrased,
 * multimodal ones on other views of the face), over the people that have a Test_Set only, so both
 * numbers are about the same people. No such people: no numbers.
 */
async function originalAndTestSet(context: AttackContext, people: readonly PersonRecord[], set: string): Promise<AttackScores> {
  const tested = people.filter((p) => (p.testQuestions?.length ?? 0) > 0);
  if (tested.length === 0) return {};
  const testSet = await scoreQuestions(context.model, tested.flatMap((p) => p.testQuestions!), context.scoring, context.batchSize);
  return { [`original_${set}`]: await accuracyNow(context, tested), [`test_set_${set}`]: byModality(testSet) };
}

/**
 * Paraphrases and new views: D_unlearn's (and D_retain's) Test_Set questions scored next to the
 * originals. Forgetting that holds only for the exact wording and the training image shows as
 * test_set_unlearn staying above original_unlearn. Scoring only: the model is left as it was.
 */
export const paraphraseAttack: Attack = {
  name: 'paraphrase',
  description: "D_unlearn's and D_retain's Test_Set (paraphrased questions, other views of the face) next to the original questions",
  report: {
    title: 'Paraphrases and new views (Test_Set)',
    columns: [
      { label: 'D_unlearn: original → Test_Set', metric: 'original_unlearn', then: 'test_set_unlearn', format: 'percent', modalities: true },
      { label: 'D_retain: original → Test_Set', metric: 'original_retain', then: 'test_set_retain', format: 'percent', modalities: true },
    ],
    note: 'Accuracy % on the original questions → on the Test_Set (the same questions paraphrased, multimodal ones on other views of the '
      + 'face), for the people that have a Test_Set (fictitious ones). Test_Set accuracy well above the original: forgetting of the wording or image, not the fact.',
  },
  run: async (context) => ({ ...await originalAndTestSet(context, context.unlearn, 'unlearn'), ...await originalAndTestSet(context, context.retain, 'retain') }),
};
