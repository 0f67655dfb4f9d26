import { tokenAveragedNll, type UnlearningMethod } from './method.ts';

/** Gradient ascent: L = -NLL_θ(forget), i.e. push the forget answers' likelihood down. */
export const gradientAscent: UnlearningMethod = {
  name: 'ga',
  description: 'gradient ascent on the forget set: L = -NLL(forget)',
  needsReference: false,
  needsRetain: false,
  defaults: {},
  loss: ({ model, forget, totals }) => tokenAveragedNll(model, forget, totals?.forgetTokens).neg(),
};
