import { refusalOf, retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * IdkNLL: fine-tune the forget prompts toward an "I don't know"-style refusal instead of pushing the
 * true answer down (TOFU's "idk" baseline, Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning
 * for LLMs", arXiv:2401.06121; github.com/locuslab/tofu dataloader.py, loss_type "idk"):
 * L = NLL_θ(y_idk | x_forget) + α · NLL_θ(retain), both token-averaged, y_idk the refusal the
 * request assigned to the forget example (StepInputs.refusal). TOFU adds the two terms (α = 1),
 * as OpenUnlearning's GradDiff-style trainers weight the retain term (alpha 1.0).
 */
const defaults = { alpha: 1 };

export const idkNll: UnlearningMethod = {
  name: 'idk_nll',
  description: 'NLL of a refusal as the answer on forget prompts + α·NLL(retain)',
  needsReference: false,
  needsRetain: true,
  needsRefusals: true,
  defaults,
  loss: (inputs) => {
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const refusal = tokenAveragedNll(inputs.model, refusalOf(inputs, 'idk_nll'), inputs.totals?.refusalTokens);
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return refusal.add(retain.mul(alpha));
  },
};
