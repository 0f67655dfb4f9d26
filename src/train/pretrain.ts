import { execFileSync } from 'node:child_process';
import { manualSeed, setNumThreads, defaultThreads } from '../torch/index.ts';
import {
  DEFAULT_MODEL_CONFIG, Tokenizer, createEmbeddedModel, saveEmbeddedModel, templateTexts, type ModelConfig, type ModelManifest,
} from '../model/embedded/index.ts';
import { PARTS, type PulseModel } from '../model/model.ts';
import { shortJsonHash } from '../hash.ts';
import type { Example } from '../data/records.ts';
import { corpusStream } from '../data/protocol-data.ts';
import { generateWorld, worldHash, worldTexts, type World } from '../world/world.ts';
import { DEFAULT_MIX, type PretrainMix } from '../world/corpus.ts';
import { deriveSeed } from '../random.ts';
import type { ProgressFactory } from '../progress.ts';
import { trainAnswerNll } from './loop.ts';

export interface PretrainRecipe {
  worldSeed: number;
  seed: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  finalLrFraction: number;
  weightDecay: number;
  clipNorm: number;
  mix: PretrainMix;
  model: ModelConfig;
  /** the scoring mode recorded as the model's default */
  scoring: 'letter' | 'likelihood';
}

/** The recipe of the shipped base model (assets/base.safetensors). */
export const DEFAULT_PRETRAIN: PretrainRecipe = {
  worldSeed: 0,
  seed: 0,
  steps: 3000,
  batchSize: 32,
  lr: 2e-3,
  warmupSteps: 200,
  finalLrFraction: 0.05,
  weightDecay: 0.01,
  clipNorm: 1,
  mix: DEFAULT_MIX,
  model: DEFAULT_MODEL_CONFIG,
  scoring: 'likelihood',
};

export function tokenizerForWorld(world: World): Tokenizer {
  return Tokenizer.fromTexts([...worldTexts(world), ...templateTexts()]);
}

export function recipeHash(recipe: PretrainRecipe): string {
  return shortJsonHash(recipe);
}

function codeVersion(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Trains the base model from scratch on the world's pre-training corpus and saves it with its
 * manifest. Deterministic for a given recipe, thread count and machine.
 */
export async function pretrain(recipe: PretrainRecipe, outPath: string, options: { progress?: ProgressFactory; threads?: number; world?: World } = {}): Promise<{ manifest: ModelManifest; model: PulseModel }> {
  setNumThreads(options.threads ?? defaultThreads());
  const world = options.world ?? generateWorld(recipe.worldSeed);
  const seed = deriveSeed(recipe.seed, 'pretrain');
  manualSeed(seed);
  const model = createEmbeddedModel(recipe.model, tokenizerForWorld(world));
  const next = corpusStream(world, seed, recipe.mix);
  const started = performance.now();
  const batch = (): Example[] => Array.from({ length: recipe.batchSize }, next);
  const { losses } = await trainAnswerNll(model, model.trainableParameters(PARTS), batch, {
    label: 'pretrain', steps: recipe.steps, lr: recipe.lr, warmupSteps: recipe.warmupSteps,
    finalLrFraction: recipe.finalLrFraction, weightDecay: recipe.weightDecay, clipNorm: recipe.clipNorm, progress: options.progress,
  });
  const seconds = (performance.now() - started) / 1000;
  model.freeze();
  const manifest = await saveEmbeddedModel(outPath, model, {
    kind: 'base',
    world: { seed: world.seed, hash: worldHash(world) },
    scoring: recipe.scoring,
    parent: null,
    training: {
      seed: recipe.seed, steps: recipe.steps, recipe_hash: recipeHash(recipe), seconds, code_version: codeVersion(),
      batch_size: recipe.batchSize, final_loss: losses.slice(-100).reduce((a, b) => a + b, 0) / Math.min(100, losses.length), parameters: model.info.parameters,
    },
  });
  return { manifest, model };
}
