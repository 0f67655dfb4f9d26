import { klFromReference, referenceOf, retainOf, tokenAveragedNll, type UnlearningMethod } from './method.ts';

/**
 * KL minimisation as MLLMU-Bench runs it (Liu et al. 2024, "Protecting Privacy in Multimodal
 * Large Language Models with MLLMU-Bench", arXiv:2410.22108; github.com/franciscoliu/MLLMU-Bench
 * baselines/KL_Min.py): gradient ascent on forget, and on retain the NLL plus KL(ref ‖ θ):
 * L = -NLL_θ(forget) + α · NLL_θ(retain) + λ · KL(ref ‖ θ) per token on retain, ref = the model
 * before the request. Defaults α = 1, λ = 1: KL_Min.py weighs all three terms 1
 * (`loss_forget = -outputs.loss`; `loss_retain = outputs_current.loss + kl_div`).
 *
 * Unlike ga_klr (-NLL(forget) + λ·KL on retain), the retain term also trains the retain answers'
 * likelihood up (α·NLL(retain)), not only θ's distribution towards ref's.
 * Unlike KL_Min.py: (1) it takes separate optimiser steps, a pass of ascent steps over the forget
 * batches, then a pass of descent steps over the retain batches, each epoch; here both terms are
 * one step's loss. (2) Its KL is F.kl_div(log_softmax(θ), softmax(ref), 'batchmean'): summed over
 * every position (prompt, image and padding tokens too) and divided by the number of rows; here,
 * as in ga_klr, it is the mean over answer tokens (klFromReference).
 */
const defaults = { alpha: 1, lambda: 1 };

export const klMinimization: UnlearningMethod = {
  name: 'kl_min',
  description: 'KL minimisation (MLLMU-Bench): -NLL(forget) + α·NLL(retain) + λ·KL(ref‖θ) on retain',
  needsReference: true,
  needsRetain: true,
  defaults,
  loss: (inputs) => {
    const alpha = inputs.hyperparameters.alpha ?? defaults.alpha;
    const lambda = inputs.hyperparameters.lambda ?? defaults.lambda;
    const retain = retainOf(inputs);
    const ascent = tokenAveragedNll(inputs.model, inputs.forget, inputs.totals?.forgetTokens).neg();
    const nll = tokenAveragedNll(inputs.model, retain, inputs.totals?.retainTokens);
    const kl = klFromReference(inputs.model, referenceOf(inputs, 'kl_min'), retain, inputs.totals?.retainTokens);
    return ascent.add(nll.mul(alpha)).add(kl.mul(lambda));
  },
};
