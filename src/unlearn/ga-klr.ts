import { klFromReference, referenceOf, retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * GA with KL regularisation on the retain set:
 * L = -NLL_θ(forget) + λ · KL(ref ‖ θ) per token on retain inputs, ref = the model before the request.
 */
const defaults = { lambda: 1 };

export const gradientAscentKlRetain: UnlearningMethod = {
  name: 'ga_klr',
  description: 'gradient ascent on forget + λ·KL(ref‖θ) on retain',
  needsReference: true,
  needsRetain: true,
  defaults,
  loss: (inputs) => {
    const ascent = tokenAveragedNll(inputs.model, inputs.forget, inputs.totals?.forgetTokens).neg();
    const kl = klFromReference(inputs.model, referenceOf(inputs, 'ga_klr'), retainOf(inputs), inputs.totals?.retainTokens);
    return ascent.add(kl.mul(inputs.hyperparameters.lambda ?? defaults.lambda));
  },
};
