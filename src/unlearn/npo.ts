import { referenceOf, type UnlearningMethod } from './method.ts';

/**
 * Negative preference optimisation over forget items (summed answer log-probs):
 * L = -(2/β) · mean log σ(-β · (logπθ(y|x) - logπref(y|x))).
 * At θ = ref the loss is (2/β)·ln 2; it falls towards 0 as θ makes the answers less likely than
 * ref did, and unlike GA it saturates instead of diverging.
 */
const defaults = { beta: 0.1 };

export const negativePreferenceOptimization: UnlearningMethod = {
  name: 'npo',
  description: 'negative preference optimisation against the pre-request model',
  needsReference: true,
  needsRetain: false,
  defaults,
  loss: (inputs) => {
    const beta = inputs.hyperparameters.beta ?? defaults.beta;
    const current = inputs.model.answerLogProbs(inputs.forget).sum;
    const before = referenceOf(inputs, 'npo').answerLogProbs(inputs.forget).sum;
    const terms = current.sub(before).mul(-beta).logSigmoid();
    const mean = inputs.totals ? terms.sum().div(inputs.totals.forgetItems) : terms.mean();
    return mean.mul(-2 / beta);
  },
};
