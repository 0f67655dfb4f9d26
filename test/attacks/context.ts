import { parseTarget, type PulseModel } from '../../src/model/model.ts';
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
