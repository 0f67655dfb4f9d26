import { keep, scope } from '../../torch/index.ts';
import type { ImageInput } from '../../data/images.ts';
import type { ScoredQuestion } from '../../data/records.ts';
import { PulseError } from '../../errors.ts';
import type { Origin, Runtime } from '../adapter.ts';
import type { WeightSource } from '../hf/source.ts';
import { LlavaNet } from './llava.ts';
import { encodeRows, expandedLength, pixelTensor, type BatchLayout, type LlavaPiece, type TokenRow } from './batch.ts';
import { clipPixels, type ClipConfig } from './preprocess.ts';
import { letterQuestion, userTurn } from './prompt.ts';
import type { LlavaConfig } from './config.ts';
import type { LlavaTokenizer } from './tokenizer.ts';
import type { ChatTemplate } from '../hf/chat-template.ts';


/** LLaVA-1.5 behind the model seam: MLLMU-Bench's prompts (LLaVA's conversation format), CLIP's preprocessing, </s> ends answers. */
export class LlavaModel extends LlavaNet {
  readonly kind = 'llava';
  readonly displayName = 'LLaVA';

  constructor(
    w: WeightSource, config: LlavaConfig, readonly tokenizer: LlavaTokenizer, readonly preprocessor: ClipConfig,
    origin: Origin, runtime: Runtime,
    /** the folder's chat template instead of MLLMU-Bench's prompt (model.prompt: chat_template), or null */
    readonly template: ChatTemplate | null = null,
  ) {
    super(w, config, origin, runtime);
    this.eval();
  }

  get stopId(): number { return this.tokenizer.eosId; }

  get layout(): BatchLayout {
    const { imageTokenId, imageTokens, padTokenId } = this.config;
    return {
      imageTokenId, imageTokens, padId: padTokenId ?? this.tokenizer.eosId, imageSize: this.config.vision.imageSize,
      device: this.runtime.device,
    };
  }

  protected prepareImage(image: ImageInput): Promise<Float32Array> {
    return clipPixels(image.kind === 'encoded' ? image.bytes : image, this.preprocessor, image.kind === 'encoded' ? image.source : 'an image');
  }

  /**
   * Prompt ids with <bos>, and the answer's ids (with </s>) as they follow the prompt in the tokenized whole:
   * MLLMU-Bench's `USER: <image>\n{q}\nASSISTANT: {a}`, or the folder's template's prompt, answer and end of turn.
   */
  protected tokenRow(prompt: string, answer: string, pixels: Float32Array | null): TokenRow {
    const images = pixels === null ? 0 : 1;
    const turn = this.template ? this.template.prompt(prompt, images) : userTurn(prompt, images > 0);
    const promptIds = this.tokenizer.encode(turn, true);
    if (answer === '') return { prompt: promptIds, answer: [], pixels };
    const text = this.template ? turn + this.template.trainingText(prompt, images, answer).completion : `${turn} ${answer}`;
    const whole = this.tokenizer.encode(text, true);
    if (!promptIds.every((id, i) => whole[i] === id)) {
      throw new PulseError(`the tokenizer merges the prompt's end with the answer ${JSON.stringify(answer.slice(0, 40))}: cannot tell answer tokens apart`);
    }
    // the template's completion ends with </s> already
    return { prompt: promptIds, answer: [...whole.slice(promptIds.length), ...(this.template ? [] : [this.tokenizer.eosId])], pixels };
  }

  protected letterPrompt(question: ScoredQuestion): string { return letterQuestion(question); }

  protected get maxPositions(): number { return this.config.text.maxPositions; }

  protected positions(row: TokenRow): number { return expandedLength(row, this.config); }

  protected encodeRows(rows: readonly TokenRow[]): LlavaPiece { return encodeRows(rows, this.layout); }

  /** Each image row's projected features, from one pass of the vision tower over all the rows' images. */
  protected withFeatures(rows: readonly TokenRow[]): TokenRow[] {
    const images = rows.filter((r) => r.pixels !== null);
    if (images.length === 0) return [...rows];
    const { imageTokens } = this.config;
    const features = scope(() => {
      const all = this.imageFeatures(pixelTensor(images.map((r) => r.pixels!), this.layout));
      return images.map((_, i) => keep(all.narrow(0, i * imageTokens, imageTokens).contiguous()));
    });
    let next = 0;
    return rows.map((r) => (r.pixels ? { ...r, features: features[next++]! } : r));
  }

  protected sharedCopy(source: WeightSource): LlavaModel {
    return new LlavaModel(source, this.config, this.tokenizer, this.preprocessor, { ...this.origin, weights: null }, this.runtime, this.template);
  }

  decode(ids: readonly number[]): string { return this.tokenizer.decode(ids); }
}
