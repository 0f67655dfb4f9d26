import { execFileSync } from 'node:child_process';
import { manualSeed, setNumThreads, defaultThreads } from '../torch/index.ts';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../model/config.ts';
import { MultimodalModel, PARTS } from '../model/multimodal.ts';
import { Tokenizer } from '../model/tokenizer.ts';
import { templateTexts } from '../model/prompt.ts';
import { saveModel, type ModelManifest } from '../model/persist.ts';
import { shortJsonHash } from '../hash.ts';
import type { Example } from '../model/batch.ts';
import { generateWorld, worldHash, worldTexts, type World } from '../world/world.ts';
import { pretrainingStream, type PretrainMix } from '../world/corpus.ts';
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
  mix: {
    celebrityText: 4, celebrityImage: 4, celebrityName: 1.5, biography: 1, faceDescription: 2,
    letterChoice: 1.5, letterLookup: 0.5, sceneOpen: 2, sceneChoice: 1,
  },
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
export async function pretrain(recipe: PretrainRecipe, outPath: string, options: { progress?: ProgressFactory; threads?: number; world?: World } = {}): Promise<{ manifest: ModelManifest; model: MultimodalModel }> {
  setNumThreads(options.threads ?? defaultThreads());
  const world = options.world ?? generateWorld(recipe.worldSeed);
  const seed = deriveSeed(recipe.seed, 'pretrain');
  manualSeed(seed);
  const model = new MultimodalModel(recipe.model, tokenizerForWorld(world));
  const next = pretrainingStream(world, seed, recipe.mix);
  const started = performance.now();
  const batch = (): Example[] => Array.from({ length: recipe.batchSize }, next);
  const { losses } = trainAnswerNll(model, model.trainableParameters(PARTS), batch, {
    label: 'pretrain', steps: recipe.steps, lr: recipe.lr, warmupSteps: recipe.warmupSteps,
    finalLrFraction: recipe.finalLrFraction, weightDecay: recipe.weightDecay, clipNorm: recipe.clipNorm, progress: options.progress,
  });
  const seconds = (performance.now() - started) / 1000;
  model.requiresGrad(false);
  const manifest = await saveModel(outPath, model, {
    kind: 'base',
    world: { seed: world.seed, hash: worldHash(world) },
    scoring: recipe.scoring,
    parent: null,
    training: {
      seed: recipe.seed, steps: recipe.steps, recipe_hash: recipeHash(recipe), seconds, code_version: codeVersion(),
      batch_size: recipe.batchSize, final_loss: losses.slice(-100).reduce((a, b) => a + b, 0) / Math.min(100, losses.length), parameters: model.parameterCount(),
    },
  });
  return { manifest, model };
}
