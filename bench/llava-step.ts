/**
 * One side of `npm run bench:llava`: LoRA training steps of a LLaVA in pulse, in its own process
 * (so that its peak RSS is its own). Prints one JSON line, in the format of bench/llava_reference.py.
 *   node --import tsx bench/llava-step.ts --model DIR --inputs FILE --steps N --warmup N --threads N
 *   node --import tsx bench/llava-step.ts --model DIR --random --device cuda --dtype bfloat16 --batch 4 ...
 * With --random the weights are random (the folder holds config, tokenizer and preprocessor only)
 * and the inputs are made here: full-size shapes with no download.
 */
import { manualSeed, noGrad, randint, randn, setNumThreads, tensor, cat, full, type Tensor } from '../src/torch/index.ts';
import { loadLlava, parseLlavaSpec, randomLlava, type LlavaModel } from '../src/model/llava/index.ts';
import type { LlavaInputs } from '../src/model/llava/llava.ts';
import { readInputs, stepOptions, timeLoraSteps, type StepData } from './lora-step.ts';

const o = stepOptions();
const { device } = o;

setNumThreads(Number(o.threads));
manualSeed(0);
const spec = parseLlavaSpec({
  kind: 'llava', path: o.model, device: o.device, dtype: o.dtype, gradient_checkpointing: o.checkpointing, micro_batch: Number(o.batch),
});
const model: LlavaModel = o.random ? randomLlava(spec) : await loadLlava(spec);

/** The bench's batch: from the shared inputs file, or made here (random ids, one image a row, the last 16 tokens labelled). */
async function batch(): Promise<{ inputs: LlavaInputs } & StepData> {
  if (o.inputs) {
    const { tensors, data } = await readInputs(o.inputs, device);
    const ids = tensors.get('input_ids')!;
    const [b, t] = ids.shape as [number, number];
    const positions = noGrad(() => tensor(Array.from({ length: b * t }, (_, i) => i % t), [b, t], 'int64', device));
    return {
      inputs: { ids, mask: tensors.get('attention_mask')!, positions, pixels: tensors.get('pixel_values')! }, labels: tensors.get('labels')!, ...data,
    };
  }
  const { imageTokens, imageTokenId, vision } = model.config;
  const b = Number(o.batch);
  const text = Number(o.text);
  const ids = cat([full([b, 1], imageTokenId, 'int64', device).expand(b, imageTokens), randint(3, 400, [b, text], device)], 1);
  const t = imageTokens + text;
  const labels = cat([full([b, t - 16], -100, 'int64', device), ids.narrow(1, t - 16, 16)], 1);
  const positions = tensor(Array.from({ length: b * t }, (_, i) => i % t), [b, t], 'int64', device);
  const inputs = { ids, mask: full([b, t], 1, 'int64', device), positions, pixels: randn([b, 3, vision.imageSize, vision.imageSize], device) };
  return { inputs, labels, lora: new Map(), rank: Number(o.rank), alpha: 2 * Number(o.rank), lr: 1e-4 };
}

const data = await batch();
timeLoraSteps(model, data.inputs, data, o);
