import { keep, noGrad, scope, type Tensor } from '../torch/index.ts';
import type { Example } from '../data/records.ts';
import type { PulseModel } from '../model/model.ts';
import { DivergenceError, lossAndGradient } from './unlearn.ts';
import { retainOf, tokenAveragedNll, type RequestContext, type RequestState, type UnlearningMethod } from './method.ts';

/**
 * MMUnlearner-style masked gradient ascent (Huo et al. 2025, "MMUnlearner: Reformulating multimodal
 * machine unlearning in the era of multimodal large language models", ACL 2025 Findings; their code,
 * data_process/SFRon.py `Mask_Our` and baselines/MLLMU_manifold.py).
 *
 * Before the request, per trainable element, the diagonal Fisher information of the answer NLL:
 *   F_D = mean over the batches of D of (∂NLL(batch)/∂θ)²,  for D = forget and D = retain;
 * mask = [(F_forget + ε) / (F_retain + ε) ≥ γ], their saliency criterion with ε = 1e-15 and γ = 1 (an
 * element neither set moves, 0/0, is in the mask, as in theirs). Each step minimises
 *   L = -NLL(forget) + α·NLL(retain),  α = 1,
 * and the gradient outside the mask is zeroed before clipping and the optimiser step, so masked-out
 * elements never move (AdamW without weight decay leaves an element with zero gradient where it is).
 *
 * How it differs from their code: they alternate a masked GA step (forget_alpha = 1) with unmasked
 * retain steps (several per forget step), and mask after clipping; here one step takes both terms, the
 * mask covers both, and clipping sees the masked gradient. They estimate the Fisher in training mode
 * over batches of 2, separately for the vision tower (forget vs multimodal retain) and the language
 * model (forget vs text + multimodal retain); here in evaluation mode over the request's batch size,
 * of the request's forget examples vs the retain examples (both modalities in each), for whatever the update trains (with LoRA, the adapters' elements: B starts at 0, so no gradient
 * reaches A before the first step and all of A is kept, as 0/0 elements are).
 */
const defaults = { gamma: 1, alpha: 1 };
const EPSILON = 1e-15;

/** The answer NLL as a method, to take its gradient with the step machinery (micro-batches included). */
const nll: UnlearningMethod = {
  name: 'nll', description: 'answer NLL', needsReference: false, needsRetain: false, defaults: {},
  loss: ({ model, forget, totals }) => tokenAveragedNll(model, forget, totals?.forgetTokens),
};

/**
 * Diagonal Fisher: the mean over the batches of each parameter's squared gradient, where
 * `gradient(i)` leaves the i-th batch's gradient in the parameters' .grad (cleared here after each).
 */
export async function diagonalFisher(
  params: readonly Tensor[], batches: number, gradient: (batch: number) => Promise<void>,
): Promise<Tensor[]> {
  // float32 sums: a half-precision gradient's square underflows below |g| ≈ 2e-4.
  const sums = noGrad(() => params.map((p) => keep(scope(() => p.detach().float().mul(0)))));
  try {
    for (let i = 0; i < batches; i++) {
      for (const p of params) p.zeroGrad();
      await gradient(i);
      noGrad(() => scope(() => params.forEach((p, j) => {
        const g = p.grad?.float();
        if (g) sums[j]!.add_(g.mul(g));
      })));
    }
    for (const s of sums) s.mul_(1 / Math.max(batches, 1));
    return sums;
  } catch (error) {
    sums.forEach((s) => s.dispose());
    throw error;
  } finally {
    for (const p of params) p.zeroGrad();
  }
}

/** True where (F_forget + ε) / (F_retain + ε) ≥ γ (a bool tensor: a byte per element of what the update trains). */
export function saliencyMask(forget: Tensor, retain: Tensor, gamma: number): Tensor {
  return noGrad(() => scope(() => keep(forget.add(EPSILON).ge(retain.add(EPSILON).mul(gamma)))));
}

/** The Fisher of the answer NLL over `examples` in batches of `batchSize`, in order. */
async function fisherOn(model: PulseModel, params: readonly Tensor[], examples: readonly Example[], batchSize: number): Promise<Tensor[]> {
  const batches = Math.ceil(examples.length / batchSize);
  return diagonalFisher(params, batches, async (i) => {
    const loss = await lossAndGradient(model, nll, null, examples.slice(i * batchSize, (i + 1) * batchSize), [], {});
    if (!Number.isFinite(loss)) throw new DivergenceError(`mmunlearner: the answer NLL is ${loss} while estimating the Fisher information`);
  });
}

/** The request's gradient mask: zeroes each step's gradient where the forget set's Fisher does not dominate. */
export class FisherMask implements RequestState {
  constructor(readonly params: readonly Tensor[], readonly masks: readonly Tensor[]) {}

  static async estimate(context: RequestContext): Promise<FisherMask> {
    const { model, params, forget, retain, settings } = context;
    if (retain.length === 0) throw new Error('mmunlearner needs retain examples to compare the forget set\'s Fisher information with');
    const gamma = settings.hyperparameters.gamma ?? defaults.gamma;
    const onForget = await fisherOn(model, params, forget, settings.batchSize);
    try {
      const onRetain = await fisherOn(model, params, retain, settings.batchSize);
      const masks = onForget.map((f, j) => saliencyMask(f, onRetain[j]!, gamma));
      onRetain.forEach((t) => t.dispose());
      return new FisherMask(params, masks);
    } finally {
      onForget.forEach((t) => t.dispose());
    }
  }

  /** The fraction of trainable elements the mask lets move. */
  get kept(): number {
    const total = this.masks.reduce((n, m) => n + m.numel, 0);
    return total === 0 ? 0 : noGrad(() => scope(() => this.masks.reduce((n, m) => n + m.sum().item(), 0))) / total;
  }

  adjustGradients(): void {
    noGrad(() => scope(() => this.params.forEach((p, j) => {
      const g = p.grad;
      if (g) g.copy_(g.mul(this.masks[j]!));
    })));
  }

  dispose(): void { this.masks.forEach((m) => m.dispose()); }
}

export const mmunlearner: UnlearningMethod = {
  name: 'mmunlearner',
  description: 'MMUnlearner: GA + α·NLL(retain), gradients masked to where Fisher(forget) ≥ γ·Fisher(retain)',
  needsReference: false,
  needsRetain: true,
  defaults,
  prepare: (context) => FisherMask.estimate(context),
  loss: (inputs) => {
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const forget = tokenAveragedNll(inputs.model, inputs.forget, inputs.totals?.forgetTokens);
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return forget.neg().add(retain.mul(alpha));
  },
};
