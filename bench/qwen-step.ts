/**
 * The pulse side of `npm run bench:qwen`: LoRA training steps of a Qwen2.5-VL / Qwen2-VL, in its own
 * process (so that its peak RSS is its own). Prints one JSON line, in the format of bench/qwen_reference.py.
 *   node --import tsx bench/qwen-step.ts --model DIR --inputs FILE --steps N --warmup N --threads N
 *   node --import tsx bench/qwen-step.ts --model DIR --random --device cuda --dtype bfloat16 --batch 4 --text 64 --image 448
 * With --random the weights are random (the folder holds config, tokenizer, template and preprocessor only)
 * and the batch is made here: full-size shapes with no download.
 */
import { manualSeed, randint, randn, setNumThreads, tensor, cat, full, type Tensor } from '../src/torch/index.ts';
import { loadQwenVl, parseQwenSpec, randomQwenVl } from '../src/model/qwen2-vl/index.ts';
import { modelTypeOf } from '../src/model/hf/config.ts';
import { ropePositions } from '../src/model/qwen2-vl/mrope.ts';
import type { QwenInputs } from '../src/model/qwen2-vl/qwen2-vl.ts';
import { readInputs, stepOptions, timeLoraSteps, type StepData } from './lora-step.ts';

const o = stepOptions({ text: '64', image: '448' });

setNumThreads(Number(o.threads));
manualSeed(0);
const spec = parseQwenSpec({
  kind: modelTypeOf(o.model!), path: o.model, device: o.device, dtype: o.dtype, gradient_checkpointing: o.checkpointing, micro_batch: Number(o.batch),
});
const model = o.random ? randomQwenVl(spec) : await loadQwenVl(spec);
const { imagePad } = model.tokenizer.special;
const merge = model.config.vision.mergeSize;
const { device } = o;

/** Positions and image slots of unpadded rows, one image a row (grids in row order). */
function inputsOf(ids: Tensor, pixels: Tensor, grids: { t: number; h: number; w: number }[]): QwenInputs {
  const [b, t] = ids.shape as [number, number];
  const rows = ids.toArray();
  const positions = new Array<number>(3 * b * t);
  const imageSlots: number[] = [];
  for (let r = 0; r < b; r++) {
    const row = rows.slice(r * t, (r + 1) * t);
    row.forEach((id, k) => { if (id === imagePad) imageSlots.push(r * t + k); });
    ropePositions(row, 0, imagePad, [grids[r]!], merge).forEach((axis, a) => axis.forEach((p, k) => { positions[(a * b + r) * t + k] = p; }));
  }
  return { ids, mask: full([b, t], 1, 'int64', device), positions: tensor(positions, [3, b, t], 'int64', device), pixels, grids, imageSlots };
}

/** The bench's batch: from the shared inputs file, or made here (random ids and patches, one image a row, the last 16 tokens labelled). */
async function batch(): Promise<{ inputs: QwenInputs } & StepData> {
  if (o.inputs) {
    const { tensors, data } = await readInputs(o.inputs, device);
    const grids = tensors.get('image_grid_thw')!.toArray();
    const thw = Array.from({ length: grids.length / 3 }, (_, i) => ({ t: grids[3 * i]!, h: grids[3 * i + 1]!, w: grids[3 * i + 2]! }));
    return { inputs: inputsOf(tensors.get('input_ids')!, tensors.get('pixel_values')!, thw), labels: tensors.get('labels')!, ...data };
  }
  const { visionStartTokenId, visionEndTokenId, vision } = model.config;
  const [b, text, side] = [Number(o.batch), Number(o.text), Number(o.image) / vision.patchSize];
  const tokens = (side * side) / merge ** 2;
  const ids = cat([full([b, 1], visionStartTokenId, 'int64', device), full([b, tokens], imagePad, 'int64', device),
    full([b, 1], visionEndTokenId, 'int64', device), randint(3, 400, [b, text], device)], 1);
  const t = tokens + 2 + text;
  const labels = cat([full([b, t - 16], -100, 'int64', device), ids.narrow(1, t - 16, 16)], 1);
  const pixels = randn([b * side * side, model.visual.patchDim], device);
  const grids = Array.from({ length: b }, () => ({ t: 1, h: side, w: side }));
  return { inputs: inputsOf(ids, pixels, grids), labels, lora: new Map(), rank: Number(o.rank), alpha: 2 * Number(o.rank), lr: 1e-4 };
}

const data = await batch();
timeLoraSteps(model, data.inputs, data, o);
