import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed } from '../torch/index.ts';
import { loadModel, saveModel } from '../model/persist.ts';
import { fileSha256, shortJsonHash } from '../hash.ts';
import { parseTarget } from '../model/multimodal.ts';
import type { Example } from '../model/batch.ts';
import { trainAnswerNll } from '../train/loop.ts';
import { deriveSeed, endlessShuffle, rng, shuffled } from '../random.ts';
import type { ProgressFactory } from '../progress.ts';
import type { RunConfig } from './config.ts';
import type { ProtocolData } from './data.ts';

/** Bump when the fine-tuning procedure changes, so cached models made the old way are not reused. */
const RECIPE_VERSION = 1;

/** The fictitious people the fine-tune teaches: a seeded choice from the world's pool. */
export function fineTunePeople(data: ProtocolData, config: RunConfig): string[] {
  const ids = data.fictitious.map((p) => p.id).sort();
  if (config.fine_tune.people > ids.length) throw new RangeError(`fine_tune.people is ${config.fine_tune.people} but the world has ${ids.length} fictitious people`);
  return shuffled(ids, rng(deriveSeed(config.seed, 'fine-tune people'))).slice(0, config.fine_tune.people);
}

/**
 * The base model LoRA-fine-tuned on the chosen fictitious people (adapters merged), built once
 * and cached under a hash of everything that produced it: base weights, world, settings, seed,
 * people. Every method and scenario that needs it starts from this same file.
 */
export async function ensureFineTuned(basePath: string, data: ProtocolData, config: RunConfig, cacheDir: string, progress: ProgressFactory): Promise<{ path: string; people: string[]; built: boolean; seconds: number }> {
  const people = fineTunePeople(data, config);
  const baseSha = fileSha256(basePath);
  const key = shortJsonHash({ RECIPE_VERSION, baseSha, world: data.world, fine_tune: config.fine_tune, seed: config.seed, people });
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `fine-tuned-${key}.safetensors`);
  if (existsSync(path)) return { path, people, built: false, seconds: 0 };

  const started = performance.now();
  const { model, manifest } = await loadModel(basePath, { world: data.world });
  try {
    const seed = deriveSeed(config.seed, 'fine-tune');
    manualSeed(seed);
    const settings = config.fine_tune;
    const target = parseTarget(settings.target);
    model.attachLora({ ...settings.lora, parts: target });
    const params = model.trainableParameters(target);
    const chosen = new Set(people);
    const pool = data.fictitious.filter((p) => chosen.has(p.id)).flatMap((p) => p.training);
    const random = rng(deriveSeed(seed, 'batches'));
    const replay = data.replay(deriveSeed(seed, 'replay'));
    const replayCount = Math.round(settings.batch_size * settings.replay);
    const next = endlessShuffle(pool, random);
    const nextBatch = (): Example[] => [...Array.from({ length: settings.batch_size - replayCount }, next), ...replay(replayCount)];
    trainAnswerNll(model, params, nextBatch, {
      label: 'fine-tune', steps: settings.steps, lr: settings.lr, warmupSteps: Math.min(50, Math.ceil(settings.steps / 10)),
      finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1, progress,
    });
    model.mergeLora();
    const seconds = (performance.now() - started) / 1000;
    await saveModel(path, model, {
      kind: 'fine_tuned', world: data.world, scoring: manifest.scoring, parent: baseSha,
      training: { seed, steps: settings.steps, recipe_hash: key, seconds, code_version: `recipe-${RECIPE_VERSION}`, people: people.length },
    });
    return { path, people, built: true, seconds };
  } finally {
    model.dispose();
  }
}
