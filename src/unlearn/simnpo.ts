import { retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * SimNPO (Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for
 * LLM Unlearning", arXiv:2410.07163; github.com/OPTML-Group/Unlearn-Simple): NPO without a
 * reference model, on the length-normalised answer log-prob, plus a retain NLL:
 * L = c · (-(2/β) · mean_i log σ(-β · logπθ(y_i|x_i)/|y_i| - γ)) + α · NLL_θ(retain),
 * logπθ(y|x) the summed answer log-prob, |y| its answer tokens, γ ≥ 0 a margin, c the forget
 * term's weight (the code's npo_coeff). The loss falls as θ makes the forget answers' per-token
 * likelihood low, and saturates (its gradient vanishes) once β·(-logπθ/|y|) ≫ 1.
 * γ is placed as in the paper (Eq. 4); both codes put it inside the β, σ(β·(-logπθ/|y| - δ)), so
 * their δ is γ/β here (the same at the default 0).
 * Defaults β = 4.5, γ = 0, c = 0.125, α = 1: OpenUnlearning (github.com/locuslab/open-unlearning)
 * configs/trainer/SimNPO.yaml (beta 4.5, delta 0.0, gamma 0.125 = npo_coeff on the forget term,
 * alpha 1.0, retain_loss_type NLL) and src/trainer/unlearn/simnpo.py; Unlearn-Simple's own TOFU
 * config (TOFU/config/forget.yaml) uses beta 2.5, gamma 0, npo_coeff 0.1375, grad_diff_coeff 1.
 */
const defaults = { beta: 4.5, gamma: 0, npo_coeff: 0.125, alpha: 1 };

export const simpleNpo: UnlearningMethod = {
  name: 'simnpo',
  description: 'SimNPO: reference-free, length-normalised NPO on forget + α·NLL(retain)',
  needsReference: false,
  needsRetain: true,
  defaults,
  loss: (inputs) => {
    const beta = inputs.hyperparameters.beta ?? defaults.beta;
    const gamma = inputs.hyperparameters.gamma ?? defaults.gamma;
    const coeff = inputs.hyperparameters.npo_coeff ?? defaults.npo_coeff;
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const { sum, tokens } = inputs.model.answerLogProbs(inputs.forget);
    const terms = sum.div(tokens).mul(-beta).sub(gamma).logSigmoid();
    const mean = inputs.totals ? terms.sum().div(inputs.totals.forgetItems) : terms.mean();
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return mean.mul(-2 * coeff / beta).add(retain.mul(alpha));
  },
};
