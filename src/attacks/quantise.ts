import { disposeDelta, type DeltaEntry, type PulseModel, type StateDelta } from '../model/model.ts';
import { tensor, type Tensor } from '../torch/index.ts';
import type { Attack } from './attack.ts';
import { accuracyNow, scoreModel } from './scoring.ts';

/** int8's symmetric range: codes −127..127 (−128 is left out, so that the grid is symmetric about 0). */
export const INT8_LEVELS = 127;

/** Round half to even, as torch.round does: 0.5 -> 0, 1.5 -> 2, −2.5 -> −2. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Symmetric per-output-channel round-to-nearest quantisation, returned dequantised: each row r (the values that share
 * the first index: an output channel of a [out, in] weight) gets scale_r = max_j |W_rj| / 127, and
 * W_q[r, j] = round(W_rj / scale_r) · scale_r, with round half to even. The row's largest magnitude is kept exactly;
 * an all-zero row stays zero. This is LLM.int8()'s absmax vector-wise quantisation (Dettmers et al. 2022) without its
 * fp16 outlier columns, the round-to-nearest (RTN) baseline of Zhang et al. 2024 ("Catastrophic Failure of LLM
 * Unlearning via Quantization") at 8 bits. Computed in float64 on the host, stored as float32.
 */
export function quantiseRows(values: Float32Array, rows: number, levels = INT8_LEVELS): Float32Array {
  if (!(Number.isInteger(rows) && rows > 0 && values.length % rows === 0)) {
    throw new RangeError(`cannot split ${values.length} values into ${rows} equal rows`);
  }
  const width = values.length / rows;
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * width, (r + 1) * width);
    let max = 0;
    for (const v of row) max = Math.max(max, Math.abs(v));
    if (max === 0) continue;
    const scale = max / levels;
    for (let j = 0; j < width; j++) out[r * width + j] = roundHalfEven(row[j]! / scale) * scale;
  }
  return out;
}

/** A weight rounded on the int8 grid, as a float32 CPU tensor of its shape (applyDelta copies it to the weight's dtype and device). */
function quantisedCopy(weight: Tensor): Tensor {
  return tensor(quantiseRows(weight.toFloat32Array(), weight.shape[0]!), [...weight.shape], 'float32', 'cpu');
}

/**
 * Rounds every weight matrix (every parameter of two or more dimensions, token embeddings and patch convolutions too,
 * which LLM.int8() leaves in 16 bits) of every part on the int8 grid, through the model seam; 1-D parameters (biases,
 * norms) stay, as in LLM.int8() and Zhang et al. One part is copied at a time and
 * one weight at a time is rounded on the host, so that a 7B LLaVA needs at most one part's copy on its device and one
 * matrix in float32 on the host. The exact weights it replaced are kept in host memory in their own dtype (a 7B
 * model's in bf16: about 13 GiB of RAM) and returned: applyDelta puts them back. A LoRA adapter, if attached, is not
 * a part's parameter and stays as it is (attacks run on merged weights). LLaVA's lm_head is in no part (a full update
 * of `llm` leaves it too), so it stays in full precision, as LLM.int8() keeps the output head.
 */
export function quantiseWeights(model: PulseModel): StateDelta {
  const originals: DeltaEntry[] = [];
  try {
    for (const part of model.parts) {
      const copies = model.parameterDelta([part]);
      try {
        for (const entry of copies.entries) if (entry.kind === 'set' && entry.value.shape.length >= 2) roundOne(model, entry, originals);
      } finally {
        disposeDelta(copies);
      }
    }
  } catch (error) {
    restore(model, { entries: originals });
    throw error;
  }
  return { entries: originals };
}

/** Rounds one weight in the model (from its copy), and keeps the copy's values on the CPU in `originals`. */
function roundOne(model: PulseModel, copy: { name: string; value: Tensor }, originals: DeltaEntry[]): void {
  const rounded = quantisedCopy(copy.value);
  try {
    originals.push({ kind: 'set', name: copy.name, value: copy.value.to(undefined, 'cpu') });
    model.applyDelta({ entries: [{ kind: 'set', name: copy.name, value: rounded }] });
  } finally {
    rounded.dispose();
  }
}

/** Puts back the weights quantiseWeights returned, and frees them. */
function restore(model: PulseModel, originals: StateDelta): void {
  try {
    model.applyDelta(originals);
  } finally {
    disposeDelta(originals);
  }
}

/**
 * Quantisation (Zhang et al. 2024): unlearning that moves weights by less than half a quantisation step is undone by
 * rounding them, so a model deployed in int8 may answer as before unlearning. Accuracy on D_unlearn and D_retain, by
 * modality, before and after rounding every weight matrix to int8 per output channel; the exact weights are put back.
 */
export const quantiseAttack: Attack = {
  name: 'quantise',
  description: 'weights rounded to int8 per output channel: accuracy on D_unlearn and D_retain before and after',
  report: {
    title: 'Quantisation to int8',
    columns: [
      { label: 'D_unlearn: before → after', metric: 'unlearn_before', then: 'unlearn_after', format: 'percent', modalities: true },
      { label: 'D_retain: before → after', metric: 'retain_before', then: 'retain_after', format: 'percent', modalities: true },
    ],
    note: 'Accuracy % before → after rounding every weight matrix to int8 per output channel (scale = max|row|/127, round to nearest): '
      + 'accuracy on D_unlearn that returns was hidden within half a quantisation step (Zhang et al. 2024).',
  },
  run: async (context) => {
    const { model } = context;
    const before = { unlearn: await accuracyNow(context, context.unlearn), retain: await accuracyNow(context, context.retain) };
    const originals = quantiseWeights(model);
    try {
      const after = { unlearn: await scoreModel(context, context.unlearn), retain: await scoreModel(context, context.retain) };
      return { unlearn_before: before.unlearn, unlearn_after: after.unlearn, retain_before: before.retain, retain_after: after.retain };
    } finally {
      restore(model, originals);
    }
  },
};
