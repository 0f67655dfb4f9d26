import { klFromReference, tokenAveragedNll, type UnlearningMethod } from './method.ts';

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
  loss: ({ model, reference, forget, retain, hyperparameters }) => {
    if (!reference) throw new Error('ga_klr needs the reference model');
    const ascent = tokenAveragedNll(model, forget).neg();
    return ascent.add(klFromReference(model, reference, retain).mul(hyperparameters.lambda ?? defaults.lambda));
  },
};
