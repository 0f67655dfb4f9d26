import { parseTarget } from '../model/model.ts';
import { getMethod } from '../unlearn/registry.ts';
import type { UnlearnSettings } from '../unlearn/unlearn.ts';
import { needsAbsentLora, type RunConfig } from './config.ts';
import type { Scenario } from './scenarios.ts';

/**
 * A request's settings, each key from the most specific layer that sets it:
 * scenario_settings.<scenario>, then method_settings.<method>, then unlearn. The method's
 * hyperparameters over its defaults. `lora: null` in a layer means a full update.
 */
export function settingsFor(config: RunConfig, scenario: string, method: string, target: string, seed: number): UnlearnSettings {
  const own = config.method_settings[method] ?? { hyperparameters: {} };
  const pick = <K extends keyof RunConfig['unlearn']>(key: K) => pickSetting(config, scenario, method, key);
  const lora = pick('lora');
  return {
    lr: pick('lr'),
    epochs: pick('epochs'),
    batchSize: pick('batch_size'),
    clipNorm: pick('clip_norm'),
    lora: lora ? { rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, layers: lora.layers } : null,
    target: parseTarget(target),
    hyperparameters: { ...getMethod(method).defaults, ...(own.hyperparameters ?? {}) },
    seed,
  };
}

/** One unlearning setting from the most specific layer that sets it: scenario_settings, method_settings, unlearn. */
export function pickSetting<K extends keyof RunConfig['unlearn']>(config: RunConfig, scenario: string, method: string, key: K): RunConfig['unlearn'][K] {
  const layers = [config.scenario_settings[scenario] ?? {}, config.method_settings[method] ?? {}, config.unlearn];
  return layers.find((l) => l[key] !== undefined)![key] as RunConfig['unlearn'][K];
}

/** unlearn.stop_at_forgotten from the most specific layer that sets it (as settingsFor reads every key). */
export function stopLevel(config: RunConfig, scenario: string, method: string): number | null {
  return pickSetting(config, scenario, method, 'stop_at_forgotten');
}

export function hyperparameterRecord(s: UnlearnSettings): Record<string, number | string | boolean> {
  const lora = s.lora ? `r${s.lora.rank}/a${s.lora.alpha}` : 'full';
  return { lr: s.lr, epochs: s.epochs, batch_size: s.batchSize, clip_norm: s.clipNorm, lora, ...s.hyperparameters };
}

/** The (method, update target) pairs a scenario runs: every method on the main target, plus the ablation where the scenario has it. */
export function methodEntries(config: RunConfig, scenario: Scenario): { method: string; target: string }[] {
  const main = config.methods.map((method) => ({ method, target: config.update_target }));
  const all = !scenario.ablation || !config.ablation ? main
    : [...main, ...config.ablation.targets.filter((t) => t !== config.update_target).map((target) => ({ method: config.ablation!.method, target }))];
  return all.filter((e) => !needsAbsentLora(config, scenario.name, e.method));
}

/** The scenario's note on the methods it cannot run: those that need LoRA where it updates in full. */
export function skippedNote(config: RunConfig, scenario: Scenario): string | undefined {
  const skipped = [...new Set(config.methods.filter((m) => needsAbsentLora(config, scenario.name, m)))];
  return skipped.length ? `${skipped.join(', ')} not run here: it trains LoRA adapters and this scenario updates in full (lora: null)` : undefined;
}
