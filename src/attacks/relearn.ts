import { disposeDelta } from '../model/model.ts';
import { accuracyNow, scoreModel } from './scoring.ts';
import type { Example, PersonRecord } from '../data/records.ts';
import { manualSeed } from '../torch/index.ts';
import { trainAnswerNll } from '../train/loop.ts';
import { deriveSeed, endlessShuffle, rng, shuffled } from '../random.ts';
import type { Attack, AttackContext, AttackScores } from './attack.ts';

/**
 * Fine-tunes adapters on `teach` for k steps, scores `probe` before and after, and removes the
 * adapters again (not merged: the model is back to its unlearned weights exactly).
 */
async function relearn(context: AttackContext, teach: readonly Example[], probe: readonly PersonRecord[], label: string): Promise<AttackScores> {
  const { model, relearn: settings } = context;
  const before = await accuracyNow(context, probe);
  manualSeed(deriveSeed(context.seed, label));
  model.attachLora({ ...settings.lora, parts: context.target });
  try {
    const params = model.trainableParameters(context.target);
    const next = endlessShuffle(teach, rng(deriveSeed(context.seed, label, 'batches')));
    await trainAnswerNll(model, params, () => Array.from({ length: settings.batch_size }, next), {
      label, steps: settings.steps, lr: settings.lr, warmupSteps: 0, finalLrFraction: 1, weightDecay: 0, clipNorm: 1, progress: context.progress,
    });
    return { before, after: await scoreModel(context, probe) };
  } finally {
    disposeDelta(model.detachLora());
    model.freeze();
  }
}

/** D_unlearn's people in two seeded halves: relearning teaches the first and probes the second. */
function halves(context: AttackContext): [PersonRecord[], PersonRecord[]] {
  const order = shuffled(context.unlearn, rng(deriveSeed(context.splitSeed, 'relearn halves')));
  const half = Math.ceil(order.length / 2);
  return [order.slice(0, half), order.slice(half)];
}

/**
 * Relearning: k steps of fine-tuning on half of D_unlearn's people, then accuracy on the other
 * half, which was never relearned. Accuracy that comes back there was hidden, not removed.
 */
export const relearnAttack: Attack = {
  name: 'relearn',
  description: "fine-tune k steps on half of D_unlearn's people; accuracy on the other half before and after",
  report: {
    title: 'Relearning on half of D_unlearn',
    columns: [{ label: 'held-out half of D_unlearn: before → after', metric: 'before', then: 'after', format: 'percent', modalities: true }],
    note: 'Accuracy % on the half of D_unlearn that was not relearned, before → after k steps of LoRA fine-tuning on the other half '
      + '(on the update target): accuracy that returns was hidden, not removed.',
  },
  run: (context) => {
    const [teach, probe] = halves(context);
    return relearn(context, teach.flatMap((p) => p.training), probe, 'relearn');
  },
};

/** Relearning on D_retain only: does training on other people bring D_unlearn's answers back? */
export const relearnRetainAttack: Attack = {
  name: 'relearn_retain',
  description: 'fine-tune k steps on D_retain only; accuracy on D_unlearn before and after',
  report: {
    title: 'Relearning on D_retain only',
    columns: [{ label: 'D_unlearn: before → after', metric: 'before', then: 'after', format: 'percent', modalities: true }],
    note: 'Accuracy % on D_unlearn before → after k steps of fine-tuning on D_retain only, which never shows D_unlearn.',
  },
  run: (context) => relearn(context, context.retain.flatMap((p) => p.training), context.unlearn, 'relearn on D_retain'),
};
