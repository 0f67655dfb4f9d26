import type { Part } from '../model/model.ts';
import type { PersonRecord } from '../data/records.ts';
import { attacksNamed } from '../attacks/registry.ts';
import type { AttackContext, AttackScores, CurrentOutcome } from '../attacks/attack.ts';
import type { QuestionOutcome } from './evaluate.ts';
import type { PersonScore } from './splits.ts';
import type { Session } from './session.ts';

export interface ScenarioPeople { unlearn: PersonRecord[]; retain: PersonRecord[]; unseen: PersonRecord[] }

type AttackSeeds = Pick<AttackContext, 'splitSeed' | 'seed' | 'oracleMia'>;
type AttackExtras = Pick<AttackContext, 'current' | 'startPeople' | 'notePeople'>;

export function attackContext(session: Session, people: ScenarioPeople, target: Part[], seeds: AttackSeeds, extras: AttackExtras): AttackContext {
  const { config } = session;
  return {
    model: session.model, target, scoring: session.scoring, batchSize: config.eval.batch_size, ...people,
    relearn: config.attack_settings.relearn, openEnded: config.attack_settings.open_ended, ...seeds, ...extras, progress: session.progress,
  };
}

export interface AttackOutput { scores: Record<string, AttackScores>; people: Record<string, Record<string, string[]>> }

/** The configured attacks on the model as the request left it; they leave it as they found it. */
export async function runAttacks(session: Session, people: ScenarioPeople, target: Part[], seeds: AttackSeeds,
  { current, start }: { current: AttackContext['current']; start: () => Promise<PersonScore[]> }): Promise<AttackOutput | null> {
  if (session.config.attacks.length === 0) return null;
  const out: AttackOutput = { scores: {}, people: {} };
  const startScores = await start();
  for (const attack of attacksNamed(session.config.attacks)) {
    const t0 = performance.now();
    const notePeople = (list: string, ids: readonly string[]) => { (out.people[attack.name] ??= {})[list] = [...ids]; };
    out.scores[attack.name] = await attack.run(attackContext(session, people, target, seeds, { current, startPeople: startScores, notePeople }));
    session.attackSeconds[attack.name] = (session.attackSeconds[attack.name] ?? 0) + (performance.now() - t0) / 1000;
  }
  return out;
}

/** The outcomes of the people's questions (D_unlearn and D_retain) by person: what attacks read instead of scoring again. */
export function byPerson(outcomes: readonly QuestionOutcome[]): Map<string, CurrentOutcome[]> {
  const out = new Map<string, CurrentOutcome[]>();
  for (const o of outcomes) {
    if (o.set === 'general' || o.question.person === null) continue;
    const own = out.get(o.question.person) ?? [];
    own.push({ modality: o.question.modality, correct: o.correct });
    out.set(o.question.person, own);
  }
  return out;
}
