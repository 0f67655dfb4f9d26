import { retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * Gradient difference: ascent on forget, descent on retain, in one step:
 * L = -γ · NLL_θ(forget) + α · NLL_θ(retain), both token-averaged (tokenAveragedNll).
 * Defaults γ = 1, α = 1: OpenUnlearning (github.com/locuslab/open-unlearning)
 * configs/trainer/GradDiff.yaml (gamma 1.0, alpha 1.0, retain_loss_type NLL) and
 * src/trainer/unlearn/grad_diff.py (loss = gamma·(-forget NLL) + alpha·retain NLL, both the
 * HF token-mean loss); the baseline of TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious
 * Unlearning for LLMs") and MLLMU-Bench (Liu et al. 2024, arXiv:2410.22108).
 */
const defaults = { gamma: 1, alpha: 1 };

export const gradientDifference: UnlearningMethod = {
  name: 'grad_diff',
  description: 'gradient difference: -γ·NLL(forget) + α·NLL(retain)',
  needsReference: false,
  needsRetain: true,
  defaults,
  loss: (inputs) => {
    const gamma = inputs.hyperparameters.gamma ?? defaults.gamma;
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const forget = tokenAveragedNll(inputs.model, inputs.forget, inputs.totals?.forgetTokens);
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return forget.mul(-gamma).add(retain.mul(alpha));
  },
};
