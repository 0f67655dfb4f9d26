import type { Person, WorldQuestion } from '../world/people.ts';
import { personExamples, pretrainingStream } from '../world/corpus.ts';
import { personView, worldHash, type World } from '../world/world.ts';
import { DEFAULT_PRETRAIN } from '../train/pretrain.ts';
import { deriveSeed, rng } from '../random.ts';
import type { PersonRecord, ProtocolData, ProtocolQuestion } from './data.ts';

function question(world: World, person: Person, q: WorldQuestion): ProtocolQuestion {
  return {
    question: q.question, options: q.options, answer: q.answer, modality: q.modality, personId: person.id,
    image: q.modality === 'multimodal' ? personView(world, person, 0) : undefined,
  };
}

function record(world: World, person: Person): PersonRecord {
  return {
    id: person.id,
    name: person.name,
    questions: person.questions.map((q) => question(world, person, q)),
    training: personExamples(person, rng(deriveSeed(world.seed, 'person examples', person.id))),
  };
}

/** The protocol's view of a generated world (in memory). */
export function worldToProtocolData(world: World): ProtocolData {
  return {
    world: { seed: world.seed, hash: worldHash(world) },
    fictitious: world.fictitious.map((p) => record(world, p)),
    celebrities: world.celebrities.map((p) => record(world, p)),
    general: world.benchmark.map((b) => ({ question: b.question, options: b.options, answer: b.answer, image: b.image, modality: 'multimodal' as const })),
    replay: (seed) => {
      const next = pretrainingStream(world, seed, DEFAULT_PRETRAIN.mix);
      return (count) => Array.from({ length: count }, next);
    },
  };
}
