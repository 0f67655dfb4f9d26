import { disposeDelta, PARTS, parseTarget, type PulseModel } from '../../src/model/model.ts';
import { loadModel } from '../../src/model/registry.ts';
import { manualSeed } from '../../src/torch/index.ts';
import { trainAnswerNll } from '../../src/train/loop.ts';
import type { PersonRecord } from '../../src/data/records.ts';
import type { AttackContext } from '../../src/attacks/attack.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { silentProgress } from '../../src/progress.ts';

/**
 * An attack's context for tests: likelihood scoring, the quick preset's relearning settings, no
 * oracle, no request evaluation to reuse (attacks score the model themselves) and no start scores.
 */
export function attackContext(model: PulseModel, people: { unlearn: readonly PersonRecord[]; retain?: readonly PersonRecord[]; unseen?: readonly PersonRecord[] },
  overrides: Partial<AttackContext> = {}): AttackContext {
  const settings = resolveConfig({ preset: 'quick' }).attack_settings;
  return {
    model, target: parseTarget('projector+llm'), scoring: 'likelihood', batchSize: 256, retain: [], unseen: [], ...people,
    relearn: settings.relearn, openEnded: settings.open_ended, splitSeed: 0, seed: 0, oracleMia: null, progress: silentProgress,
    current: new Map(), startPeople: [], notePeople: () => {}, ...overrides,
  };
}

/** Every weight of the model, as numbers: what an attack must leave as it found it. */
export function weights(model: PulseModel): number[][] {
  const delta = model.parameterDelta(PARTS);
  const out = delta.entries.map((e) => (e.kind === 'set' ? Array.from(e.value.toFloat32Array()) : []));
  disposeDelta(delta);
  return out;
}

/**
 * The shipped base model LoRA-fine-tuned (150 steps, seed 1, on the update target projector+llm)
 * on `taught`'s training examples, merged and frozen: a model that knows these people.
 */
export async function modelTaught(taught: readonly PersonRecord[]): Promise<PulseModel> {
  const model = await loadModel(resolveConfig({ preset: 'quick' }).model);
  const target = parseTarget('projector+llm');
  manualSeed(1);
  model.attachLora({ rank: 8, alpha: 16, dropout: 0, layers: [], parts: target });
  const pool = taught.flatMap((p) => p.training);
  let next = 0;
  await trainAnswerNll(model, model.trainableParameters(target), () => Array.from({ length: 16 }, () => pool[next++ % pool.length]!), {
    label: 'fine-tune', steps: 150, lr: 3e-3, warmupSteps: 10, finalLrFraction: 0.1, weightDecay: 0, clipNorm: 1,
  });
  disposeDelta(model.mergeLora());
  model.freeze();
  return model;
}
