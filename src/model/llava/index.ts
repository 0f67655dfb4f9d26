import { join } from 'node:path';
import { z } from 'zod';
import type { ModelKind, ModelSpec } from '../registry.ts';
import { PulseError } from '../../errors.ts';
import { readLlavaConfig } from './config.ts';
import { LlavaModel } from './model.ts';
import { parseClipConfig } from './preprocess.ts';
import { LlavaTokenizer } from './tokenizer.ts';
import { readFolderText } from '../hf/files.ts';
import { HF_SPEC_FIELDS, buildModel, checkFolder } from '../hf/folder.ts';
import { LLAVA_NAMES } from './names.ts';
import { IMAGE_TOKEN } from './prompt.ts';
import { ChatTemplate } from '../hf/chat-template.ts';

/** path: llava-hf/llava-1.5-7b-hf or -13b-hf, or a fine-tune in that layout */
const LlavaSpec = z.object({
  kind: z.literal('llava'),
  ...HF_SPEC_FIELDS,
  /**
   * mllmu: MLLMU-Bench's own LLaVA prompt (the paper's); chat_template: the folder's chat template. Left out it is mllmu,
   * with no default written in, so that a config of an earlier pulse keeps its hash (its run folders resume).
   */
  prompt: z.enum(['mllmu', 'chat_template']).optional(),
}).strict();
export type LlavaSpec = z.infer<typeof LlavaSpec>;
/** A spec as written: keys with a default may be left out. */
export type LlavaSpecInput = z.input<typeof LlavaSpec>;

/** The files besides the weights that identify a LLaVA checkpoint. */
const FINGERPRINT_FILES = ['config.json', 'tokenizer.json', 'preprocessor_config.json'];

/** Everything of a LLaVA folder but its weights, checked against each other. */
function readFolder(folder: string) {
  checkFolder(folder, 'a LLaVA is a Hugging Face model folder');
  const config = readLlavaConfig(folder);
  const tokenizer = LlavaTokenizer.load(folder);
  if (tokenizer.size > config.text.vocabSize) {
    throw new PulseError(`${tokenizer.path}: the tokenizer has ${tokenizer.size} tokens but the embedding has ${config.text.vocabSize} rows (config.json text_config.vocab_size)`);
  }
  if (tokenizer.id('<image>') !== config.imageTokenId) {
    throw new PulseError(`${tokenizer.path}: <image> is token ${tokenizer.id('<image>')}, but config.json says image_token_index ${config.imageTokenId}`);
  }
  const preprocessorPath = join(folder, 'preprocessor_config.json');
  const preprocessor = parseClipConfig(readFolderText(preprocessorPath), preprocessorPath);
  const crop = preprocessor.crop;
  if (!crop || crop.height !== config.vision.imageSize || crop.width !== config.vision.imageSize) {
    throw new PulseError(`${preprocessorPath}: crop_size must be ${config.vision.imageSize}x${config.vision.imageSize}, the vision tower's image_size`);
  }
  return { config, tokenizer, preprocessor };
}

function load(input: LlavaSpecInput, random: boolean): LlavaModel {
  const spec = LlavaSpec.parse(input);
  const { config, tokenizer, preprocessor } = readFolder(spec.path);
  const template = spec.prompt === 'chat_template' ? ChatTemplate.load(spec.path, IMAGE_TOKEN) : null;
  template?.prompt('Who is this person?', 1); // a template that renders no <image> fails here, not in the middle of a run
  return buildModel(spec, LLAVA_NAMES, template ? [...FINGERPRINT_FILES, 'chat_template.json'] : FINGERPRINT_FILES, random,
    (source, origin, runtime) => new LlavaModel(source, config, tokenizer, preprocessor, origin, runtime, template));
}

export async function loadLlava(spec: LlavaSpecInput): Promise<LlavaModel> {
  return load(spec, false);
}

/**
 * A LLaVA of a folder's shape with random weights (N(0, 0.02²)): benchmarks at full size with no
 * download. The folder needs its config, tokenizer and preprocessor files only.
 */
export function randomLlava(spec: LlavaSpecInput): LlavaModel {
  return load(spec, true);
}

export function parseLlavaSpec(raw: unknown): LlavaSpec {
  return LlavaSpec.parse(raw);
}

export const llavaKind: ModelKind = {
  kind: 'llava',
  description: 'LLaVA-1.5 (7B, 13B or any size) from a Hugging Face model folder, on CPU or CUDA',
  spec: LlavaSpec as unknown as z.ZodType<ModelSpec>,
  load: (spec) => loadLlava(spec as LlavaSpec),
  modelTypes: ['llava'],
};

export { LlavaModel } from './model.ts';
