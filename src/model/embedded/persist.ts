import { existsSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../../atomic-file.ts';
import { checkHeaderShapes, loadSafetensors, saveSafetensors } from '../../torch/safetensors.ts';
import type { SafetensorsHeader } from '../../torch/safetensors-format.ts';
import { disposeAll, type Tensor } from '../../torch/index.ts';
import { PulseError, describeZodError } from '../../errors.ts';
import { fileSha256 } from '../../hash.ts';
import { ModelConfig } from './config.ts';
import { EmbeddedModel } from './model.ts';
import { Tokenizer } from './tokenizer.ts';

/**
 * What a saved model carries besides its weights (in the safetensors metadata under "pulse",
 * and as a readable copy beside the file): enough to rebuild it, and to refuse it with a clear
 * message when it does not belong to the world or data it is used with.
 */
export const ModelManifest = z.object({
  format: z.literal('pulse.model'),
  version: z.literal(1),
  kind: z.enum(['base', 'fine_tuned']),
  config: ModelConfig,
  vocabulary: z.array(z.string()),
  tokenizer_hash: z.string(),
  /** the world the model was trained on: its seed and content hash */
  world: z.object({ seed: z.number().int(), hash: z.string() }),
  /** multiple-choice scoring mode the model is evaluated with by default */
  scoring: z.enum(['letter', 'likelihood']),
  training: z.object({
    seed: z.number().int(),
    steps: z.number().int(),
    /** hash of the training configuration and data recipe */
    recipe_hash: z.string(),
    seconds: z.number(),
    code_version: z.string(),
  }).passthrough(),
  /** sha256 of the model this one was trained from (fine-tuned models) */
  parent: z.string().nullable(),
}).strict();
export type ModelManifest = z.infer<typeof ModelManifest>;

/** Saves weights and manifest; the sidecar `<path>.json` is for people, the embedded copy is what loading trusts. */
export async function saveModel(path: string, model: EmbeddedModel, manifest: Omit<ModelManifest, 'format' | 'version' | 'config' | 'vocabulary' | 'tokenizer_hash'>): Promise<ModelManifest> {
  if (model.hasLora) throw new Error('merge or detach LoRA adapters before saving a model');
  const full: ModelManifest = {
    format: 'pulse.model',
    version: 1,
    ...manifest,
    config: model.config,
    vocabulary: [...model.tokenizer.words],
    tokenizer_hash: model.tokenizer.hash(),
  };
  await saveSafetensors(path, model.stateDict(), { pulse: JSON.stringify(full) });
  const { vocabulary: _omitted, ...readable } = full;
  await writeFileAtomic(`${path}.json`, `${JSON.stringify({ ...readable, vocabulary_size: full.vocabulary.length }, null, 2)}\n`);
  return full;
}

/** The manifest of a file saved by saveModel, from its header's metadata. */
function readManifest(metadata: Record<string, string>, path: string): ModelManifest {
  if (!metadata.pulse) throw new PulseError(`${path} has no pulse manifest: it was not saved by pulse`);
  let raw: unknown;
  try { raw = JSON.parse(metadata.pulse); } catch { throw new PulseError(`${path}: the pulse manifest is not valid JSON`); }
  const parsed = ModelManifest.safeParse(raw);
  if (!parsed.success) throw new PulseError(`${path}: invalid pulse manifest: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * Loads a model saved by saveModel. Its manifest, and every tensor's name and shape against the model
 * the manifest describes, are checked from the file's header before any weight is read: a file that is
 * not a pulse model costs its header, whatever size it claims.
 */
export async function loadModel(path: string): Promise<{ model: EmbeddedModel; manifest: ModelManifest }> {
  if (!existsSync(path)) throw new PulseError(`model file ${path} does not exist (the default base model is made by \`pulse pretrain\`)`);
  let built: { model: EmbeddedModel; manifest: ModelManifest } | undefined;
  const check = (header: SafetensorsHeader) => {
    const manifest = readManifest(header.metadata, path);
    const tokenizer = new Tokenizer(manifest.vocabulary.slice(5));
    if (tokenizer.hash() !== manifest.tokenizer_hash) throw new PulseError(`${path}: the vocabulary does not match its recorded hash`);
    // the hash reads the file in chunks (constant memory) before the model exists to check its shapes
    const source = { path, sha256: fileSha256(path), defaultScoring: manifest.scoring, world: manifest.world };
    const model = new EmbeddedModel(manifest.config, tokenizer, source);
    built = { model, manifest };
    checkHeaderShapes(header, new Map([...model.stateDict()].map(([name, t]) => [name, t.shape])), path);
  };
  let tensors: Map<string, Tensor> | undefined;
  try {
    ({ tensors } = await loadSafetensors(path, { float32: true, check }));
    const { model, manifest } = built!;
    model.loadStateDict(tensors, { source: path });
    model.eval();
    return { model, manifest };
  } catch (error) {
    built?.model.dispose();
    throw error;
  } finally {
    if (tensors) disposeAll(tensors);
  }
}
