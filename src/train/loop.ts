import { AdamW, clipGradNorm, scope, type Tensor } from '../torch/index.ts';
import type { Example } from '../data/records.ts';
import type { PulseModel } from '../model/model.ts';
import { PulseError } from '../errors.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';

export interface TrainOptions {
  /** names this phase in progress lines and errors ("pretrain", "fine-tune") */
  label: string;
  steps: number;
  lr: number;
  warmupSteps: number;
  /** the learning rate decays along a cosine to this fraction of lr */
  finalLrFraction: number;
  weightDecay: number;
  clipNorm: number;
  progress?: ProgressFactory;
}

/** Linear warm-up, then cosine decay from lr to finalLrFraction·lr. */
export function learningRate(step: number, o: Pick<TrainOptions, 'steps' | 'lr' | 'warmupSteps' | 'finalLrFraction'>): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const t = o.steps <= o.warmupSteps ? 1 : (step - o.warmupSteps) / Math.max(1, o.steps - o.warmupSteps - 1);
  const floor = o.lr * o.finalLrFraction;
  return floor + (o.lr - floor) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

/**
 * Answer-token NLL of a batch, L = -Σ logπθ(answer tokens) / Σ answer tokens, with the gradient
 * accumulated one piece of the batch at a time (each piece's share scaled by the batch's token
 * count), so a model that splits a batch never holds two graphs. Calls backward() itself;
 * returns the loss value.
 */
export async function backwardAnswerNll(model: PulseModel, examples: readonly Example[]): Promise<number> {
  const batch = await model.encode(examples);
  try {
    const total = batch.answerTokens;
    let loss = 0;
    for (const piece of batch.pieces) {
      loss += scope(() => {
        const part = model.answerLogProbs(piece).sum.sum().neg().div(total);
        model.backward(part);
        return part.item();
      });
    }
    return loss;
  } finally {
    batch.dispose();
  }
}

/** Stops a run whose loss is not a finite number, naming the phase and the step. */
export function assertFinite(loss: number, label: string, step: number): void {
  if (!Number.isFinite(loss)) {
    throw new PulseError(`${label}: the loss became ${loss} at step ${step + 1}; training stopped (try a lower learning rate)`);
  }
}

/**
 * Trains `params` of `model` for `steps` steps of answer-token NLL on batches from nextBatch
 * (which must be seeded by the caller so that runs repeat). AdamW, warm-up + cosine schedule,
 * gradient clipping; a NaN or infinite loss stops with a PulseError.
 */
export async function trainAnswerNll(model: PulseModel, params: Tensor[], nextBatch: (step: number) => Example[], options: TrainOptions): Promise<{ losses: number[] }> {
  const optimizer = new AdamW(params, { lr: options.lr, weightDecay: options.weightDecay });
  const progress = (options.progress ?? silentProgress)(options.label, options.steps);
  const losses: number[] = [];
  model.setTraining(true);
  try {
    for (let step = 0; step < options.steps; step++) {
      optimizer.lr = learningRate(step, options);
      optimizer.zeroGrad();
      const loss = await backwardAnswerNll(model, nextBatch(step));
      assertFinite(loss, options.label, step);
      if (options.clipNorm > 0) clipGradNorm(params, options.clipNorm);
      optimizer.step();
      losses.push(loss);
      const recent = losses.slice(-50);
      progress.update(step + 1, `loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(3)}`);
    }
    progress.finish(`loss ${losses.at(-1)?.toFixed(3) ?? '-'}`);
  } finally {
    optimizer.dispose();
    for (const p of params) p.zeroGrad();
    model.setTraining(false);
  }
  return { losses };
}
