import { parseTarget } from '../model/model.ts';
import { getMethod } from '../unlearn/registry.ts';
import type { UnlearnSettings } from '../unlearn/unlearn.ts';
import { needsAbsentLora, type RunConfig } from './config.ts';
import type { Scenario } from './scenarios.ts';
import { baseMethod, resolveVariant, variantsOf } from './grid.ts';

/**
 * A request's settings, each key from the most specific layer that sets it:
 * scenario_settings.<scenario>, then method_settings.<method>, then unlearn. The method's
 * hyperparameters over its defaults. `lora: null` in a layer means a full update.
 */
export function settingsFor(runConfig: RunConfig, scenario: string, variant: string, target: string, seed: number): UnlearnSettings {
  // a grid point runs its registry method with the point's settings (protocol/grid.ts)
  const { method, config } = resolveVariant(runConfig, scenario, variant);
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
export function stopLevel(runConfig: RunConfig, scenario: string, variant: string): number | null {
  return variantSetting(runConfig, scenario, variant, 'stop_at_forgotten');
}

/** One unlearning setting of a method entry, which may be a grid point (the point's config, its registry method). */
export function variantSetting<K extends keyof RunConfig['unlearn']>(runConfig: RunConfig, scenario: string, variant: string, key: K): RunConfig['unlearn'][K] {
  const { method, config } = resolveVariant(runConfig, scenario, variant);
  return pickSetting(config, scenario, method, key);
}

export function hyperparameterRecord(s: UnlearnSettings): Record<string, number | string | boolean> {
  const lora = s.lora ? `r${s.lora.rank}/a${s.lora.alpha}` : 'full';
  return { lr: s.lr, epochs: s.epochs, batch_size: s.batchSize, clip_norm: s.clipNorm, lora, ...s.hyperparameters };
}

/**
 * The (method, update target) pairs a scenario runs: every method on the main target, plus the ablation where the
 * scenario has it; each method as its grid points (protocol/grid.ts), or itself without a grid.
 */
export function methodEntries(config: RunConfig, scenario: Scenario): { method: string; target: string }[] {
  const variants = (method: string) => variantsOf(config, scenario.name, method).map((v) => v.name);
  const main = config.methods.flatMap((m) => variants(m).map((method) => ({ method, target: config.update_target })));
  const ablation = !scenario.ablation || !config.ablation ? []
    : config.ablation.targets.filter((t) => t !== config.update_target).flatMap((target) => variants(config.ablation!.method).map((method) => ({ method, target })));
  return [...main, ...ablation].filter((e) => !needsAbsentLora(config, scenario.name, baseMethod(e.method)));
}

/** The scenario's note on the methods it cannot run: those that need LoRA where it updates in full. */
export function skippedNote(config: RunConfig, scenario: Scenario): string | undefined {
  const skipped = [...new Set(config.methods.filter((m) => needsAbsentLora(config, scenario.name, m)))];
  return skipped.length ? `${skipped.join(', ')} not run here: it trains LoRA adapters and this scenario updates in full (lora: null)` : undefined;
}
