import { referenceOf, retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';
import { negativePreferenceOptimization } from './npo.ts';

/**
 * NPO with a retain term (NPO+RT, Zhang et al. 2024, "Negative Preference Optimization: From
 * Catastrophic Collapse to Effective Unlearning", arXiv:2404.05868;
 * github.com/licong-lin/negative-preference-optimization):
 * L = NPO_β(forget) + α · NLL_θ(retain), NPO_β as npo.ts (-(2/β)·mean log σ(-β(logπθ - logπref))),
 * NLL token-averaged. Defaults β = 0.1, α = 1: OpenUnlearning (github.com/locuslab/open-unlearning)
 * configs/trainer/NPO.yaml (beta 0.1, alpha 1.0, gamma 1.0 on the NPO term, retain_loss_type NLL).
 */
const defaults = { beta: 0.1, alpha: 1 };

export const npoRetain: UnlearningMethod = {
  name: 'npo_rt',
  description: 'NPO on forget + α·NLL(retain)',
  needsReference: true,
  needsRetain: true,
  defaults,
  loss: (inputs) => {
    referenceOf(inputs, 'npo_rt'); // a missing reference is named as npo_rt's, not npo's
    const beta = inputs.hyperparameters.beta ?? defaults.beta;
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const npo = negativePreferenceOptimization.loss({ ...inputs, hyperparameters: { beta } });
    const retain = tokenAveragedNll(inputs.model, retainOf(inputs), inputs.totals?.retainTokens);
    return npo.add(retain.mul(alpha));
  },
};
