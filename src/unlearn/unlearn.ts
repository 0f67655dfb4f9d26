import { AdamW, clipGradNorm, manualSeed, scope } from '../torch/index.ts';
import type { Example, EncodedBatch } from '../model/batch.ts';
import type { MultimodalModel, Part } from '../model/multimodal.ts';
import type { LoraOptions } from '../model/lora.ts';
import { deriveSeed, endlessShuffle, rng, shuffled } from '../random.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import type { UnlearningMethod } from './method.ts';

export interface UnlearnSettings {
  lr: number;
  epochs: number;
  batchSize: number;
  clipNorm: number;
  /** LoRA adapters on the target's linear layers (merged after the request), or null for a full update */
  lora: (LoraOptions & { layers: string[] }) | null;
  target: Part[];
  hyperparameters: Record<string, number>;
  seed: number;
}

/** A loss that is not a finite number: the method diverged on this request. */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

function encodeByModality(model: MultimodalModel, examples: readonly Example[]): EncodedBatch[] {
  const groups = [examples.filter((e) => e.image !== undefined), examples.filter((e) => e.image === undefined)];
  return groups.filter((g) => g.length > 0).map((g) => model.encode(g));
}

/**
 * One unlearning request: `method` minimises its loss on the forget examples (and retain ones
 * where it uses them) for `epochs` passes in seeded mini-batches, updating only `target`.
 * The reference model is the model as it was before this request. Adapters, when used, are
 * merged at the end so that the next request starts from plain weights.
 */
export function unlearnRequest(model: MultimodalModel, method: UnlearningMethod, forget: readonly Example[], retain: readonly Example[], settings: UnlearnSettings, progress: ProgressFactory = silentProgress, label = method.name): { first: number | null; last: number | null; steps: number } {
  manualSeed(settings.seed);
  const random = rng(deriveSeed(settings.seed, 'batches'));
  const reference = method.needsReference ? model.frozenCopy() : null;
  if (settings.lora) model.attachLora({ ...settings.lora, parts: settings.target });
  const params = model.trainableParameters(settings.target);
  const optimizer = new AdamW(params, { lr: settings.lr, weightDecay: 0 });
  const batchesPerEpoch = Math.ceil(forget.length / settings.batchSize);
  const total = settings.epochs * batchesPerEpoch;
  const bar = progress(label, total);
  const losses: number[] = [];
  const retainStream = endlessShuffle(retain, random);
  const nextRetain = (n: number): Example[] => (retain.length > 0 ? Array.from({ length: n }, retainStream) : []);
  model.train();
  try {
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const order = shuffled(forget, random);
      for (let b = 0; b < batchesPerEpoch; b++) {
        const forgetBatch = order.slice(b * settings.batchSize, (b + 1) * settings.batchSize);
        const retainBatch = method.needsRetain ? nextRetain(forgetBatch.length) : [];
        const loss = scope(() => {
          optimizer.zeroGrad();
          const value = method.loss({
            model,
            reference,
            forget: encodeByModality(model, forgetBatch),
            retain: encodeByModality(model, retainBatch),
            hyperparameters: settings.hyperparameters,
          });
          const number = value.item();
          if (!Number.isFinite(number)) return number;
          value.backward();
          return number;
        });
        if (!Number.isFinite(loss)) throw new DivergenceError(`${method.name}: the loss became ${loss} at step ${losses.length + 1} of ${total}`);
        clipGradNorm(params, settings.clipNorm);
        optimizer.step();
        losses.push(loss);
        bar.update(losses.length, `loss ${loss.toFixed(3)}`);
      }
    }
    bar.finish(`loss ${losses.at(-1)?.toFixed(3) ?? '-'}`);
  } finally {
    optimizer.dispose();
    for (const p of params) p.zeroGrad();
    model.eval();
    if (model.hasLora) model.mergeLora();
    model.requiresGrad(false);
    reference?.dispose();
  }
  return { first: losses[0] ?? null, last: losses.at(-1) ?? null, steps: losses.length };
}
