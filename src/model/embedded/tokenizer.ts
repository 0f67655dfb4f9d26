import { createHash } from 'node:crypto';

/** Special tokens, always the first ids so that a vocabulary grows without renumbering them. */
export const SPECIAL = ['<pad>', '<bos>', '<eos>', '<unk>', '<image>'] as const;
export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
export const UNK = 3;

// Words, numbers, the possessive 's, single punctuation marks and newlines are tokens; other
// whitespace separates. A separate 's keeps "Ada Stone's" made of the same name tokens as "Ada Stone".
const TOKEN = /\n|<image>|[\p{L}\p{N}]+|'s\b|[^\s\p{L}\p{N}]/gu;

export function splitWords(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/**
 * Word-level tokenizer over a closed vocabulary (the world's words plus the prompt template's).
 * A word outside it maps to <unk>, so a real dataset's text still tokenizes, only lossily.
 */
export class Tokenizer {
  readonly #ids = new Map<string, number>();
  readonly words: readonly string[];

  constructor(words: Iterable<string>) {
    const list: string[] = [...SPECIAL];
    for (const w of words) if (!list.includes(w)) list.push(w);
    this.words = list;
    list.forEach((w, i) => this.#ids.set(w, i));
  }

  /** Builds the vocabulary from texts: every distinct token, sorted, so the ids are stable. */
  static fromTexts(texts: Iterable<string>): Tokenizer {
    const seen = new Set<string>();
    for (const t of texts) for (const w of splitWords(t)) seen.add(w);
    for (const s of SPECIAL) seen.delete(s);
    return new Tokenizer([...seen].sort());
  }

  get size(): number { return this.words.length; }
  id(word: string): number { return this.#ids.get(word) ?? UNK; }
  has(word: string): boolean { return this.#ids.has(word); }
  encode(text: string): number[] { return splitWords(text).map((w) => this.id(w)); }
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (i) => this.words[i] ?? '<unk>').join(' ').replace(/ ([.,:;?!]|'s)/g, '$1').replace(/ ?\n ?/g, '\n');
  }
  /** Identifies the vocabulary in manifests: a model only works with the tokenizer it was trained with. */
  hash(): string { return createHash('sha256').update(this.words.join('\u0000')).digest('hex').slice(0, 16); }
}
