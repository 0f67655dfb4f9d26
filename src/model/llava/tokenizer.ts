import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { PulseError } from '../../errors.ts';
import { readFolderJson } from '../hf/files.ts';

/**
 * A Hugging Face folder's tokenizer (`tokenizer.json` + `tokenizer_config.json`), through
 * @huggingface/tokenizers, which reproduces the Rust tokenizers library (tested against its
 * Node binding). LLaVA's `<image>` and `<pad>` are added tokens of the file.
 */
export class LlavaTokenizer {
  readonly bosId: number | null;
  readonly eosId: number;
  readonly padId: number | null;

  private constructor(private readonly inner: Tokenizer, private readonly vocab: Map<string, number>, readonly path: string) {
    this.bosId = this.vocab.get('<s>') ?? null;
    this.eosId = this.id('</s>');
    this.padId = this.vocab.get('<pad>') ?? null;
  }

  static load(folder: string): LlavaTokenizer {
    const path = join(folder, 'tokenizer.json');
    const json = readFolderJson(path) as { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number; content: string }[] };
    const config = readFolderJson(join(folder, 'tokenizer_config.json'));
    const vocab = new Map<string, number>(Object.entries(json.model?.vocab ?? {}));
    for (const t of json.added_tokens ?? []) vocab.set(t.content, t.id);
    if (vocab.size === 0) throw new PulseError(`${path}: no vocabulary (model.vocab is empty)`);
    let inner: Tokenizer;
    try {
      inner = new Tokenizer(json as object, config as object);
    } catch (e) {
      throw new PulseError(`${path}: cannot build the tokenizer: ${(e as Error).message}`);
    }
    return new LlavaTokenizer(inner, vocab, path);
  }

  /** One more than the largest id: the embedding must have at least this many rows. */
  get size(): number { return Math.max(...this.vocab.values()) + 1; }

  /** The id of a token the prompts rely on (e.g. `<image>`); a tokenizer without it is an error. */
  id(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new PulseError(`${this.path}: no token ${JSON.stringify(token)}`);
    return id;
  }

  /** Token ids of `text`; with `bos`, the beginning-of-sequence token first (as the file's post-processor adds it). */
  encode(text: string, bos: boolean): number[] {
    return this.inner.encode(text, { add_special_tokens: bos }).ids;
  }

  /** The text of `ids`; none (a greedy answer that stopped at once) is the empty string, which the library refuses to decode. */
  decode(ids: readonly number[]): string {
    return ids.length === 0 ? '' : this.inner.decode([...ids], { skip_special_tokens: false });
  }
}
