import { THIS_PERSON, subject, type AttributeName, type Subject } from './vocab.ts';
import { deriveSeed, rng } from '../random.ts';
import type { Person, WorldQuestion } from './people.ts';

/**
 * Other wordings of the classification questions (the Test_Set's paraphrases, as MLLMU-Bench has).
 * The shipped model's tokenizer has a closed vocabulary (worldTexts) that must not change, so every
 * wording uses only words the world already has: no "of", no lower-case "what"/"where"/"which", no
 * nouns for a city or a country. That leaves reorderings around "Which one", "Which option is" and
 * "the ... X works as / lives in / was born in / studied at": plainer than MLLMU-Bench's, but each
 * differs from the original in its words, not only in order. test/world/paraphrase.test.ts checks the
 * vocabulary against the shipped model's tokenizer.
 */
export const PARAPHRASES: Record<AttributeName, readonly ((s: Subject) => string)[]> = {
  occupation: [
    (s) => `Which one is ${s.possessive} occupation?`,
    (s) => `What is the occupation ${s.plain} works as?`,
    (s) => `Which option is ${s.possessive} occupation?`,
  ],
  residence: [
    (s) => `Which one does ${s.plain} live in?`,
    (s) => `Which option is the one ${s.plain} lives in?`,
    (s) => `What is the one ${s.plain} lives in?`,
  ],
  birthplace: [
    (s) => `Which one was ${s.plain} born in?`,
    (s) => `Which option is the one ${s.plain} was born in?`,
    (s) => `What is the one ${s.plain} was born in?`,
  ],
  education: [
    (s) => `What school did ${s.plain} attend?`,
    (s) => `What is the school ${s.plain} studied at?`,
    (s) => `Which one is the school ${s.plain} studied at?`,
  ],
  hobby: [
    (s) => `Which hobby is ${s.possessive} favorite?`,
    (s) => `What is the hobby ${s.plain} enjoys?`,
    (s) => `Which one is ${s.possessive} favorite hobby?`,
  ],
};

/** Every wording a question can take, original excluded: what the tokenizer test checks. */
export function paraphraseTexts(name: string): string[] {
  return Object.values(PARAPHRASES).flatMap((forms) => forms.flatMap((f) => [f(subject(name)), f(THIS_PERSON)]));
}

/** One person's classification questions reworded, each with a wording drawn by a seed of its own; options and answers kept. */
export function paraphrasedQuestions(seed: number, person: Pick<Person, 'name' | 'questions'>): WorldQuestion[] {
  return person.questions.map((q) => {
    const forms = PARAPHRASES[q.attribute];
    const form = forms[Math.floor(rng(deriveSeed(seed, 'paraphrase', q.id))() * forms.length)]!;
    return { ...q, question: form(q.modality === 'multimodal' ? THIS_PERSON : subject(person.name)) };
  });
}
