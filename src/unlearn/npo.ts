import { noGrad } from '../torch/index.ts';
import { sequenceLogProbs, type UnlearningMethod } from './method.ts';

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
  loss: ({ model, reference, forget, hyperparameters }) => {
    if (!reference) throw new Error('npo needs the reference model');
    const beta = hyperparameters.beta ?? defaults.beta;
    const current = sequenceLogProbs(model, forget).sum;
    const before = noGrad(() => sequenceLogProbs(reference, forget).sum);
    return current.sub(before).mul(-beta).logSigmoid().mean().mul(-2 / beta);
  },
};
