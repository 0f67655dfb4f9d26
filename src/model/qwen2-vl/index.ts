import { join } from 'node:path';
import { z } from 'zod';
import type { ModelKind, ModelSpec } from '../registry.ts';
import { PulseError } from '../../errors.ts';
import { ChatTemplate } from '../hf/chat-template.ts';
import { HF_SPEC_FIELDS, buildModel, checkFolder } from '../hf/folder.ts';
import { QWEN_TOKENS, Qwen2Tokenizer } from './tokenizer.ts';
import { Qwen2VLImageProcessor } from './image-processor.ts';
import { readQwenVlConfig, type QwenVariant } from './config.ts';
import { QWEN_NAMES } from './names.ts';
import { QwenVlModel, type QwenIo } from './model.ts';

/** path: a Hugging Face folder (Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct or -7B-Instruct, or a fine-tune in that layout) */
const QwenSpec = z.object({ kind: z.enum(['qwen2_vl', 'qwen2_5_vl']), ...HF_SPEC_FIELDS }).strict();
export type QwenSpec = z.infer<typeof QwenSpec>;

/** The files besides the weights that identify a checkpoint. */
const FINGERPRINT_FILES = ['config.json', 'tokenizer.json', 'preprocessor_config.json', 'processor_config.json', 'chat_template.json',
  'chat_template.jinja', 'tokenizer_config.json'];

/** Everything of a Qwen2-VL folder but its weights, checked against each other. */
function readFolder(folder: string) {
  checkFolder(folder, 'a Qwen2-VL or Qwen2.5-VL is a Hugging Face model folder');
  const config = readQwenVlConfig(folder);
  const configPath = join(folder, 'config.json');
  const tokenizer = Qwen2Tokenizer.load(folder);
  if (tokenizer.size > config.text.vocabSize) {
    throw new PulseError(`${tokenizer.source}: the tokenizer has ${tokenizer.size} tokens but the embedding has ${config.text.vocabSize} rows (${configPath} vocab_size)`);
  }
  for (const [name, field, id] of [['imagePad', 'image_token_id', config.imageTokenId], ['visionStart', 'vision_start_token_id', config.visionStartTokenId],
    ['visionEnd', 'vision_end_token_id', config.visionEndTokenId]] as const) {
    if (tokenizer.special[name] !== id) {
      throw new PulseError(`${tokenizer.source}: ${QWEN_TOKENS[name]} is token ${tokenizer.special[name]}, but ${configPath} says ${field} ${id}`);
    }
  }
  const processor = Qwen2VLImageProcessor.load(folder);
  const { vision } = config;
  for (const [key, theirs, ours] of [['patch_size', processor.config.patchSize, vision.patchSize], ['merge_size', processor.config.mergeSize, vision.mergeSize],
    ['temporal_patch_size', processor.config.temporalPatchSize, vision.temporalPatchSize]] as const) {
    if (theirs !== ours) {
      throw new PulseError(`${folder}: the image processor's ${key} is ${theirs} but the vision tower's (config.json vision_config) is ${ours}: `
        + 'an image would not give as many features as it has tokens');
    }
  }
  const template = ChatTemplate.load(folder, QWEN_TOKENS.imagePad);
  template.prompt('Who is this person?', 1); // a template that renders no image placeholder fails here, not in the middle of a run
  return { config, io: { tokenizer, template, processor } satisfies QwenIo };
}

function load(spec: QwenSpec, random: boolean): QwenVlModel {
  const { config, io } = readFolder(spec.path);
  if (config.variant !== spec.kind) {
    throw new PulseError(`model.kind: ${spec.kind}, but ${join(spec.path, 'config.json')} says model_type ${config.variant}`);
  }
  return buildModel(spec, QWEN_NAMES, FINGERPRINT_FILES, random, (source, origin, runtime) => new QwenVlModel(source, config, io, origin, runtime));
}

export async function loadQwenVl(spec: QwenSpec): Promise<QwenVlModel> {
  return load(spec, false);
}

/**
 * A Qwen2-VL of a folder's shape with random weights (N(0, 0.02²)): benchmarks at full size with no
 * download. The folder needs its config, tokenizer, template and preprocessor files only.
 */
export function randomQwenVl(spec: QwenSpec): QwenVlModel {
  return load(spec, true);
}

export function parseQwenSpec(raw: unknown): QwenSpec {
  return QwenSpec.parse(raw);
}

function qwenKind(kind: QwenVariant, description: string): ModelKind {
  return {
    kind, description, modelTypes: [kind],
    spec: QwenSpec.extend({ kind: z.literal(kind) }) as unknown as z.ZodType<ModelSpec>,
    load: (spec) => loadQwenVl(spec as QwenSpec),
  };
}

export const qwen2VlKind = qwenKind('qwen2_vl', 'Qwen2-VL (2B, 7B or any size) from a Hugging Face model folder, on CPU or CUDA');
export const qwen25VlKind = qwenKind('qwen2_5_vl', 'Qwen2.5-VL (3B, 7B or any size) from a Hugging Face model folder, on CPU or CUDA');

export { QwenVlModel } from './model.ts';
