import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { manualSeed } from '../torch/index.ts';
import { shortJsonHash } from '../hash.ts';
import { PulseError } from '../errors.ts';
import { disposeDelta, parseTarget, type PulseModel, type StateDelta } from '../model/model.ts';
import type { Example, ProtocolData } from '../data/records.ts';
import { trainAnswerNll } from '../train/loop.ts';
import { deriveSeed, endlessShuffle, rng, shuffled } from '../random.ts';
import type { ProgressFactory } from '../progress.ts';
import type { RunConfig } from './config.ts';
import { tryClaim, waitClaim } from '../claim/claim.ts';
import type { Liveness } from '../claim/holder.ts';

/** Bump when the fine-tuning procedure changes, so cached fine-tunes made the old way are not reused. */
const RECIPE_VERSION = 2;

export interface FineTune {
  /** the cached delta file */
  path: string;
  people: string[];
  /** the LoRA adapters that turn the base model into the fine-tuned one */
  delta: StateDelta;
  built: boolean;
  seconds: number;
}

/** The fictitious people the fine-tune teaches: a seeded choice from the world's pool. */
export function fineTunePeople(data: ProtocolData, config: RunConfig): string[] {
  const ids = data.fictitious.map((p) => p.id).sort();
  if (config.fine_tune.people > ids.length) throw new RangeError(`fine_tune.people is ${config.fine_tune.people} but the world has ${ids.length} fictitious people`);
  return shuffled(ids, rng(deriveSeed(config.seed, 'fine-tune people'))).slice(0, config.fine_tune.people);
}

/** Where a fine-tune of these people is cached: under a hash of everything that produces it. */
export function fineTuneCachePath(model: PulseModel, data: ProtocolData, config: RunConfig, cacheDir: string, people: readonly string[]): string {
  const key = shortJsonHash({ RECIPE_VERSION, baseSha: model.info.sha256, world: data.world, fine_tune: config.fine_tune, seed: config.seed, people });
  return join(cacheDir, `fine-tune-${key}.safetensors`);
}

/** How a process waits for a cache entry another process is building. */
export interface CacheLock { label: string; liveness?: Liveness; onWait?: (holder: string) => void }

/**
 * The base model LoRA-fine-tuned on the chosen fictitious people (or on `people`, e.g. a retain
 * oracle's), kept as its adapters (a state delta of a few MB even for a 13B model), built once
 * and cached under a hash of everything that produced it: base weights, world, settings, seed,
 * people. One process builds it, holding a lock beside the cache file; others wait for it. The
 * model is left as it was (the base weights); every scenario that starts from the fine-tune
 * applies the delta.
 */
export async function ensureFineTuned(model: PulseModel, data: ProtocolData, config: RunConfig, cacheDir: string, progress: ProgressFactory,
  people = fineTunePeople(data, config), label = 'fine-tune', lock: CacheLock = { label: 'pulse' }): Promise<FineTune> {
  return (await cachedFineTune(model, data, config, cacheDir, progress, people, label, lock, true))!;
}

/** As ensureFineTuned, but null at once while another process builds it: the caller finds other work meanwhile. */
export async function tryFineTuned(model: PulseModel, data: ProtocolData, config: RunConfig, cacheDir: string, progress: ProgressFactory,
  people: readonly string[], label: string, lock: CacheLock): Promise<FineTune | null> {
  return cachedFineTune(model, data, config, cacheDir, progress, [...people], label, lock, false);
}

async function cachedFineTune(model: PulseModel, data: ProtocolData, config: RunConfig, cacheDir: string, progress: ProgressFactory,
  people: string[], label: string, lock: CacheLock, wait: boolean): Promise<FineTune | null> {
  const path = fineTuneCachePath(model, data, config, cacheDir, people);
  if (existsSync(path)) return { path, people, delta: await model.loadDelta(path), built: false, seconds: 0 };
  mkdirSync(cacheDir, { recursive: true });
  const options = { label: lock.label, ...(lock.liveness ? { liveness: lock.liveness } : {}) };
  const claim = wait ? await waitClaim(`${path}.lock`, { ...options, ...(lock.onWait ? { onWait: lock.onWait } : {}) }) : tryClaim(`${path}.lock`, options);
  if (!claim) return null;
  try {
    // built by the process that held the lock before this one
    if (existsSync(path)) return { path, people, delta: await model.loadDelta(path), built: false, seconds: 0 };
    return await buildFineTune(model, data, config, path, progress, people, label);
  } finally {
    claim.release();
  }
}

async function buildFineTune(model: PulseModel, data: ProtocolData, config: RunConfig, path: string, progress: ProgressFactory,
  people: string[], label: string): Promise<FineTune> {
  const key = basename(path).replace(/^fine-tune-|\.safetensors$/g, '');
  const started = performance.now();
  await model.reset();
  const seed = deriveSeed(config.seed, 'fine-tune');
  manualSeed(seed);
  const settings = config.fine_tune;
  const target = parseTarget(settings.target);
  model.attachLora({ ...settings.lora, parts: target });
  try {
    const params = model.trainableParameters(target);
    const chosen = new Set(people);
    const pool = data.fictitious.filter((p) => chosen.has(p.id)).flatMap((p) => p.training);
    if (pool.length === 0) throw new PulseError(`${label}: none of its ${people.length} people is a fictitious person of the data (only those can be fine-tuned on)`);
    const random = rng(deriveSeed(seed, 'batches'));
    const replay = data.replay(deriveSeed(seed, 'replay'));
    const replayCount = Math.round(settings.batch_size * settings.replay);
    const next = endlessShuffle(pool, random);
    const nextBatch = (): Example[] => [...Array.from({ length: settings.batch_size - replayCount }, next), ...replay(replayCount)];
    await trainAnswerNll(model, params, nextBatch, {
      label, steps: settings.steps, lr: settings.lr, warmupSteps: Math.min(50, Math.ceil(settings.steps / 10)),
      finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1, progress,
    });
  } catch (error) {
    disposeDelta(model.detachLora());
    model.freeze();
    throw error;
  }
  const delta = model.detachLora();
  model.freeze();
  const seconds = (performance.now() - started) / 1000;
  const manifest = { kind: 'fine_tune', base_sha256: model.info.sha256, world: data.world, seed, steps: settings.steps, recipe_hash: key, seconds, people };
  await model.saveDelta(path, delta, { 'pulse.fine_tune': JSON.stringify(manifest) });
  return { path, people, delta, built: true, seconds };
}
