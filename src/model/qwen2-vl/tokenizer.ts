import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { PulseError, errorExcerpt, excerpt } from '../../errors.ts';
import { readFolderJson } from '../hf/files.ts';

/** The special tokens the prompts and the image expansion rely on, by content (their ids differ between files). */
export const QWEN_TOKENS = {
  imagePad: '<|image_pad|>',
  visionStart: '<|vision_start|>',
  visionEnd: '<|vision_end|>',
  imStart: '<|im_start|>',
  imEnd: '<|im_end|>',
  endOfText: '<|endoftext|>',
} as const;
export type QwenTokenName = keyof typeof QWEN_TOKENS;

interface TokenizerJson { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number; content: string; special?: boolean }[] }

/**
 * A Qwen2 tokenizer (Qwen2-VL's and Qwen2.5-VL's: byte-level BPE, no BOS, chat markup as added
 * special tokens) over a folder's tokenizer.json, through @huggingface/tokenizers, which
 * reproduces the Rust tokenizers library (tested against its Node binding).
 */
export class Qwen2Tokenizer {
  /** the ids of QWEN_TOKENS in this file */
  readonly special: Readonly<Record<QwenTokenName, number>>;
  /** one more than the largest id: the embedding must have at least this many rows */
  readonly size: number;

  private constructor(private readonly inner: Tokenizer, private readonly vocab: ReadonlyMap<string, number>, readonly source: string) {
    // A loop, not Math.max(...ids): 150k arguments overflow the stack.
    let last = 0;
    for (const id of vocab.values()) last = Math.max(last, id);
    this.size = last + 1;
    const special = {} as Record<QwenTokenName, number>;
    for (const [name, content] of Object.entries(QWEN_TOKENS) as [QwenTokenName, string][]) special[name] = this.id(content);
    this.special = special;
  }

  /** The tokenizer of a model folder: tokenizer.json, with tokenizer_config.json when there is one. */
  static load(folder: string): Qwen2Tokenizer {
    const path = join(folder, 'tokenizer.json');
    const json = readFolderJson(path, 'missing: the folder has no tokenizer.json');
    const config = readFolderJson(join(folder, 'tokenizer_config.json'), null) ?? {};
    return Qwen2Tokenizer.fromJson(json, config, path);
  }

  /** From a parsed tokenizer.json and tokenizer_config.json; `source` names them in errors. */
  static fromJson(json: unknown, config: unknown, source: string): Qwen2Tokenizer {
    const file = json as TokenizerJson;
    const vocab = new Map<string, number>(Object.entries(file?.model?.vocab ?? {}));
    if (vocab.size === 0) throw new PulseError(`${source}: no vocabulary (model.vocab is empty)`);
    for (const t of file.added_tokens ?? []) vocab.set(t.content, t.id);
    let inner: Tokenizer;
    try {
      inner = new Tokenizer(json as object, (config ?? {}) as object);
    } catch (e) {
      throw new PulseError(`${source}: cannot build the tokenizer (${errorExcerpt(e)})`);
    }
    return new Qwen2Tokenizer(inner, vocab, source);
  }

  /** The id of a token by its content; a file without it is an error naming the token. */
  id(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new PulseError(`${this.source}: no token ${JSON.stringify(excerpt(token))}: not a Qwen2-VL tokenizer`);
    return id;
  }

  /** Token ids of `text`; chat markup written out (`<|im_start|>`...) becomes its special token, as in transformers. */
  encode(text: string): number[] {
    return this.inner.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * The text of `ids`, special tokens included unless `skipSpecial`. No ids (a greedy answer that
   * stopped at once) is the empty string, which the library would refuse; ids past the file's
   * last token (the model's vocabulary is larger) decode to nothing, as in the Rust library.
   */
  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    return ids.length === 0 ? '' : this.inner.decode([...ids], { skip_special_tokens: options.skipSpecial ?? false });
  }

  /**
   * The prompt with each image's single <|image_pad|> repeated as many times as the image has
   * tokens (`counts[i]` for the i-th pad, see Qwen2VLImageProcessor.imageTokens), as
   * Qwen2VLProcessor expands its text. A pad count other than the image count is an error.
   */
  expandImagePads(ids: readonly number[], counts: readonly number[]): number[] {
    const pad = this.special.imagePad;
    const pads = ids.reduce((n, id) => n + (id === pad ? 1 : 0), 0);
    if (pads !== counts.length) {
      throw new PulseError(`the prompt has ${pads} ${QWEN_TOKENS.imagePad} token${pads === 1 ? '' : 's'} for ${counts.length} image${counts.length === 1 ? '' : 's'}`);
    }
    const out: number[] = [];
    let image = 0;
    for (const id of ids) {
      if (id !== pad) out.push(id);
      else for (let i = counts[image++]!; i > 0; i--) out.push(pad);
    }
    return out;
  }
}
