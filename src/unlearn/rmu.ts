import { tensor, type Tensor } from '../torch/index.ts';
import { rng } from '../random.ts';
import { referenceOf, retainOf, type UnlearningMethod } from './method.ts';

/**
 * Representation misdirection for unlearning (RMU; Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing
 * Malicious Use With Unlearning", arXiv:2403.03218; github.com/centerforaisafety/wmdp rmu/unlearn.py):
 * L = mean (h_θ(x_f) - c·u)² + α · mean (h_θ(x_r) - h_ref(x_r))²,
 * h = the language model's residual stream after decoder layer ℓ at the answer positions (PulseModel.hiddenStates),
 * ref = the model before the request, u = a fixed unit vector whose entries are drawn uniform in [0, 1) before
 * normalising. Both means run over elements (positions × width), as unlearn.py's F.mse_loss does; the paper writes the
 * per-token squared norm, which is the width times larger.
 *
 * Defaults: c = 6.5 and α = 1200 (run_rmu_zephyr.ipynb, which made the published Zephyr-7B checkpoint:
 * --steering_coeffs 6.5 --alpha 1200), ℓ = unlearn.py's layer_id 7 of Zephyr's 32 layers. The layer is a fraction of
 * the depth so that one number fits every model: ℓ = max(1, round(f · layers)) - 1, the layer after which a fraction f
 * of the decoder has run; f = 0.25 gives layer 7 of 32 (LLaVA-1.5-7B), 9 of 40 (13B), 0 of the embedded model's 4.
 * c is the target's L2 norm in the residual stream's own units, kept as published whatever the model's width: on a
 * model whose stream is much smaller or larger than Zephyr's, set it by hand (on the tiny test model, width 32, the
 * stream's per-token norm after layer 0 is about 1.6, so c = 6.5 steers to about 4 times it).
 *
 * Unlike unlearn.py: (1) it reads every token of a text (prompt and padding too); here only the answer positions, as
 * every pulse loss does. (2) It updates only the MLP down-projections of layers 5-7; here the update target decides.
 * (3) It draws u with torch.rand per forget corpus; here a seeded JS generator draws it from `direction_seed` and the
 * width, so that every step of a request (and every request of a sequence) steers toward the same direction.
 */
const defaults = { steering_coeff: 6.5, alpha: 1200, layer_fraction: 0.25, direction_seed: 0 };

export const representationMisdirection: UnlearningMethod = {
  name: 'rmu',
  description: 'RMU: steer a layer\'s hidden states on forget toward c·u (fixed random u), keep them on retain',
  needsReference: true,
  needsRetain: true,
  defaults,
  checkHyperparameters: (hyperparameters, model) => {
    const { layer_fraction: fraction, direction_seed: seed } = { ...defaults, ...hyperparameters };
    if (!(fraction > 0 && fraction <= 1)) return `rmu's layer_fraction must be in (0, 1] (got ${fraction}); the model has ${model.llmLayers} layers`;
    return Number.isInteger(seed) ? null : `rmu's direction_seed must be an integer (got ${seed})`;
  },
  loss: (inputs) => {
    const settings = { ...defaults, ...inputs.hyperparameters };
    const layer = steeredLayer(settings.layer_fraction, inputs.model.llmLayers);
    const forget = inputs.model.hiddenStates(inputs.forget, layer);
    const width = forget.size(1);
    const u = tensor(steeringDirection(settings.direction_seed, width), [1, width], 'float32', forget.device);
    const target = u.mul(settings.steering_coeff);
    const retain = retainOf(inputs);
    const current = inputs.model.hiddenStates(retain, layer);
    const before = referenceOf(inputs, 'rmu').hiddenStates(retain, layer);
    const forgetTerm = squaredErrorMean(forget, target, inputs.totals?.forgetTokens);
    const retainTerm = squaredErrorMean(current, before, inputs.totals?.retainTokens);
    return forgetTerm.add(retainTerm.mul(settings.alpha));
  },
};

/** mean over elements of (a - b)², b broadcast over a's rows; over `totalRows` rows × width when given (micro-batches). */
function squaredErrorMean(a: Tensor, b: Tensor, totalRows?: number): Tensor {
  const squares = a.sub(b).pow(2);
  return totalRows === undefined ? squares.mean() : squares.sum().div(totalRows * a.size(1));
}

/** ℓ = max(1, round(f · layers)) - 1: the decoder layer after which a fraction f of the layers has run. */
export function steeredLayer(fraction: number, layers: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`rmu: layer_fraction must be in (0, 1] (got ${fraction})`);
  return Math.max(1, Math.round(fraction * layers)) - 1;
}

const directions = new Map<string, Float32Array>();

/** u: entries uniform in [0, 1) from mulberry32(seed), divided by their L2 norm; the same for the same seed and width. */
export function steeringDirection(seed: number, width: number): Float32Array {
  const key = `${seed}/${width}`;
  let u = directions.get(key);
  if (!u) {
    if (!Number.isInteger(seed)) throw new RangeError(`rmu: direction_seed must be an integer (got ${seed})`);
    const random = rng(seed);
    const draws = Array.from({ length: width }, random);
    const norm = Math.sqrt(draws.reduce((sum, v) => sum + v * v, 0));
    u = Float32Array.from(draws, (v) => v / norm);
    directions.set(key, u);
  }
  return u;
}
