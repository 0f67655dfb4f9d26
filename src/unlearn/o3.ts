import { keep, scope, type Tensor } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import { disposeDelta } from '../model/model.ts';
import { tokenAveragedNll, type RequestContext, type RequestState, type StepInputs, type UnlearningMethod } from './method.ts';

/**
 * O3-style continual unlearning (Gao et al. 2024, "On large language model continual unlearning",
 * ICLR 2025, arXiv 2407.10223): each request trains its own LoRA adapter (pulse attaches fresh ones
 * per request) with an orthogonality penalty against the adapters of the sequence's earlier requests,
 *   L = -NLL(forget) + λ · Σ_layers Σ_{s<t} ||A_t A_sᵀ||²_F,
 * A_t [r, in] the current request's down-projection at a layer, A_s request s's there (from its delta),
 * so that the requests' updates read disjoint input subspaces. The penalty is O-LoRA's (Wang et al.
 * 2023, "Orthogonal subspace learning for language model continual learning"), which O3 adopts;
 * λ = 0.5 is O-LoRA's λ₁. The forget term here is plain GA; like O3, no retain data is used.
 *
 * What of O3 this is not: O3 keeps every request's adapter unmerged and, at inference, an OOD detector
 * (trained with a contrastive entropy loss, scored by layer-aggregated cosine and Mahalanobis
 * distances) decides whether and how much to load the unlearning adapters for each input. pulse
 * merges each adapter into the weights after its request and has no detector: every input sees
 * every request's update, as with the other methods.
 */
const defaults = { lambda: 0.5 };

/** The current adapters' A factors, each with the earlier requests' A factors of the same layer. */
export class OrthogonalPenalty implements RequestState {
  constructor(readonly pairs: readonly { current: Tensor; earlier: readonly Tensor[] }[]) {}

  static async prepare(context: RequestContext): Promise<OrthogonalPenalty> {
    if (!context.settings.lora) {
      throw new PulseError('o3 trains one LoRA adapter per request, but this request updates its target in full (lora: null); '
        + 'set unlearn.lora, and leave it set for o3 in scenario_settings (the presets\' pre_trained scenario has lora: null)');
    }
    const live = context.model.loraFactors();
    const earlier = new Map<string, Tensor[]>();
    for (const delta of await context.earlierDeltas()) {
      for (const e of delta.entries) {
        const current = e.kind === 'lora' ? live.get(e.layer) : undefined;
        if (e.kind !== 'lora' || !current) continue;
        // Deltas are read onto the CPU: a copy on the adapter's device, outside autograd.
        const a = keep(scope(() => e.a.detach().to('float32', current.a.device).clone()));
        earlier.set(e.layer, [...(earlier.get(e.layer) ?? []), a]);
      }
      disposeDelta(delta);
    }
    return new OrthogonalPenalty([...earlier].map(([layer, as]) => ({ current: live.get(layer)!.a, earlier: as })));
  }

  /** Σ_layers Σ_s ||A_t A_sᵀ||²_F, differentiable w.r.t. the current A factors; null without earlier adapters. */
  penalty(): Tensor | null {
    const terms = this.pairs.flatMap(({ current, earlier }) => earlier.map((a) => current.matmul(a.transpose(0, 1)).pow(2).sum()));
    return terms.length === 0 ? null : terms.reduce((sum, t) => sum.add(t));
  }

  dispose(): void {
    for (const { earlier } of this.pairs) for (const a of earlier) a.dispose();
  }
}

/** The penalty's share in this graph: all of it, or a micro-batch's part, so that the pieces add up to it once. */
function share(inputs: StepInputs): number {
  return inputs.totals ? inputs.forget.size / inputs.totals.forgetItems : 1;
}

export const orthogonalLora: UnlearningMethod = {
  name: 'o3',
  description: 'O3: GA with one LoRA adapter per request, kept orthogonal (λ·Σ||A_t A_sᵀ||²_F) to the earlier requests\' adapters',
  needsReference: false,
  needsRetain: false,
  needsLora: true,
  defaults,
  prepare: (context) => OrthogonalPenalty.prepare(context),
  loss: (inputs) => {
    const ga = tokenAveragedNll(inputs.model, inputs.forget, inputs.totals?.forgetTokens).neg();
    // Without prepared state (the loss alone, outside a request) there are no earlier adapters: GA.
    const penalty = inputs.state instanceof OrthogonalPenalty ? inputs.state.penalty() : null;
    if (!penalty) return ga;
    const lambda = inputs.hyperparameters.lambda ?? defaults.lambda;
    return ga.add(penalty.mul(lambda * share(inputs)));
  },
};
