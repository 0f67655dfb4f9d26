import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.ts';
import { z } from 'zod';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.ts';
import { disposeAll, noGrad } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import { ModelConfig } from './config.ts';
import { MultimodalModel } from './multimodal.ts';
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
export async function saveModel(path: string, model: MultimodalModel, manifest: Omit<ModelManifest, 'format' | 'version' | 'config' | 'vocabulary' | 'tokenizer_hash'>): Promise<ModelManifest> {
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

export interface LoadExpectation {
  world?: { seed: number; hash: string };
}

/** Loads a model saved by saveModel, checking its manifest against what the caller will use it with. */
export async function loadModel(path: string, expect: LoadExpectation = {}): Promise<{ model: MultimodalModel; manifest: ModelManifest }> {
  if (!existsSync(path)) throw new PulseError(`model file ${path} does not exist (the default base model is made by \`pulse pretrain\`)`);
  const { tensors, metadata } = await loadSafetensors(path, { float32: true });
  try {
    if (!metadata.pulse) throw new PulseError(`${path} has no pulse manifest: it was not saved by pulse`);
    let raw: unknown;
    try { raw = JSON.parse(metadata.pulse); } catch { throw new PulseError(`${path}: the pulse manifest is not valid JSON`); }
    const parsed = ModelManifest.safeParse(raw);
    if (!parsed.success) throw new PulseError(`${path}: invalid manifest at ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
    const manifest = parsed.data;
    const tokenizer = new Tokenizer(manifest.vocabulary.slice(5));
    if (tokenizer.hash() !== manifest.tokenizer_hash) throw new PulseError(`${path}: the vocabulary does not match its recorded hash`);
    if (expect.world && (expect.world.seed !== manifest.world.seed || expect.world.hash !== manifest.world.hash)) {
      throw new PulseError(`${path} was trained on world seed ${manifest.world.seed} (hash ${manifest.world.hash}), but this run uses world seed ${expect.world.seed} (hash ${expect.world.hash}); pretrain a model for this world (\`pulse pretrain\`) or use the matching world`);
    }
    const model = new MultimodalModel(manifest.config, tokenizer);
    model.loadStateDict(tensors, { source: path });
    model.eval();
    return { model, manifest };
  } finally {
    disposeAll(tensors);
  }
}

/** Saves the attached LoRA adapters (tensors "<layer>.lora_a" / "<layer>.lora_b") with their scale and dropout. */
export async function saveLora(path: string, model: MultimodalModel): Promise<void> {
  const state = model.loraState();
  if (state.size === 0) throw new PulseError('the model has no LoRA adapter to save');
  const settings = Object.fromEntries(model.loraLayers().filter(([, l]) => l.adapter).map(([name, l]) => [name, { scale: l.adapter!.scale, dropout: l.adapter!.dropout }]));
  await saveSafetensors(path, state, { 'pulse.lora': JSON.stringify({ format: 'pulse.lora', version: 1, tokenizer_hash: model.tokenizer.hash(), layers: settings }) });
}

/**
 * Attaches adapters saved by saveLora to a model of the same shape (rank and scale come from the
 * file). A layer named in the file that the model lacks, or of another shape, is an error.
 */
export async function loadLora(path: string, model: MultimodalModel): Promise<void> {
  const { tensors, metadata } = await loadSafetensors(path, { float32: true });
  try {
    if (!metadata['pulse.lora']) throw new PulseError(`${path} holds no pulse LoRA adapter`);
    const info = JSON.parse(metadata['pulse.lora']) as { tokenizer_hash: string; layers: Record<string, { scale: number; dropout: number }> };
    if (info.tokenizer_hash !== model.tokenizer.hash()) throw new PulseError(`${path} was trained for another vocabulary (${info.tokenizer_hash}, model ${model.tokenizer.hash()})`);
    const layers = new Map(model.loraLayers());
    for (const [name, { scale, dropout }] of Object.entries(info.layers)) {
      const layer = layers.get(name);
      const a = tensors.get(`${name}.lora_a`);
      const b = tensors.get(`${name}.lora_b`);
      if (!layer || !a || !b) throw new PulseError(`${path}: adapter for ${name} does not fit this model`);
      const rank = a.size(0);
      layer.attach({ rank, alpha: scale * rank, dropout });
      const adapter = layer.adapter!;
      if (adapter.a.shape.join() !== a.shape.join() || adapter.b.shape.join() !== b.shape.join()) {
        layer.detach();
        throw new PulseError(`${path}: adapter for ${name} has shape [${a.shape}]/[${b.shape}], the layer needs [${adapter.a.shape}]/[${adapter.b.shape}]`);
      }
      noGrad(() => { adapter.a.copy_(a); adapter.b.copy_(b); });
    }
  } finally {
    disposeAll(tensors);
  }
}
