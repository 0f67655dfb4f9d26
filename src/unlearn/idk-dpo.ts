import { referenceOf, refusalOf, retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * IdkDPO: direct preference optimisation (Rafailov et al. 2023, arXiv:2305.18290) with the refusal
 * preferred and the true answer dispreferred, against the pre-request model (TOFU's and
 * MUSE's "IdkDPO"/"DPO" unlearning baseline), plus a retain NLL:
 * L = -(2/β) · mean_i log σ(β · [(logπθ(y_idk|x) - logπref(y_idk|x)) - (logπθ(y|x) - logπref(y|x))]) + α · NLL_θ(retain),
 * log-probs summed over each answer's tokens, the mean over forget items, NLL token-averaged.
 * At θ = ref the bracket is 0 and the first term is (2/β)·ln 2, as NPO's; it falls as θ moves
 * likelihood from the true answer to the refusal.
 * As OpenUnlearning (github.com/locuslab/open-unlearning) src/trainer/utils.py compute_dpo_loss
 * (win = the refusal, lose = the forget answer; -2/β · logsigmoid(β·(win_log_ratio - lose_log_ratio)).mean(),
 * log ratios from per-sequence summed NLLs) and src/trainer/unlearn/dpo.py (γ·forget + α·retain).
 * Defaults β = 0.1, α = 1: configs/trainer/DPO.yaml (beta 0.1, alpha 1.0, gamma 1.0 on the DPO term,
 * retain_loss_type NLL).
 */
const defaults = { beta: 0.1, alpha: 1 };

export const idkDpo: UnlearningMethod = {
  name: 'idk_dpo',
  description: 'DPO preferring a refusal to the forget answer, against the pre-request model, + α·NLL(retain)',
  needsReference: true,
  needsRetain: true,
  needsRefusals: true,
  defaults,
  loss: (inputs) => {
    const beta = inputs.hyperparameters.beta ?? defaults.beta;
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const reference = referenceOf(inputs, 'idk_dpo');
    const refusal = refusalOf(inputs, 'idk_dpo');
    const preferred = inputs.model.answerLogProbs(refusal).sum.sub(reference.answerLogProbs(refusal).sum);
    const dispreferred = inputs.model.answerLogProbs(inputs.forget).sum.sub(reference.answerLogProbs(inputs.forget).sum);
    const terms = preferred.sub(dispreferred).mul(beta).logSigmoid();
    const mean = inputs.totals ? terms.sum().div(inputs.totals.forgetItems) : terms.mean();
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return mean.mul(-2 / beta).add(retain.mul(alpha));
  },
};
