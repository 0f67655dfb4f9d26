// A plug-in: `npx pulse run --plugin examples/capped-ga.ts --methods ga,capped_ga`.
// Gradient ascent with a ceiling: once the forget answers are τ nats per token less likely,
// the loss is flat and the gradient vanishes, so it cannot run away as plain GA does.
import { tokenAveragedNll, type UnlearningMethod } from 'pulse';

/** L = -min(NLL_θ(forget), τ), NLL token-averaged over the forget answers. */
export const cappedGradientAscent: UnlearningMethod = {
  name: 'capped_ga',
  description: 'gradient ascent on the forget set, flat once NLL(forget) exceeds tau',
  needsReference: false,
  needsRetain: false,
  defaults: { tau: 8 },
  loss: ({ model, forget, hyperparameters, totals }) => {
    const nll = tokenAveragedNll(model, forget, totals?.forgetTokens);
    return nll.clamp(null, hyperparameters.tau ?? 8).neg();
  },
};
