import { keep, scope } from '../../torch/index.ts';
import type { ImageInput } from '../../data/images.ts';
import type { ScoredQuestion } from '../../data/records.ts';
import { PulseError } from '../../errors.ts';
import type { Origin, Runtime } from '../adapter.ts';
import type { WeightSource } from '../hf/source.ts';
import { mllmuQuestionBody, type ChatTemplate } from '../hf/chat-template.ts';
import { QwenVlNet } from './qwen2-vl.ts';
import { encodeQwenRows, patchTensor, type QwenImage, type QwenLayout, type QwenPiece, type QwenRow } from './batch.ts';
import type { Qwen2VLImageProcessor } from './image-processor.ts';
import type { Qwen2Tokenizer } from './tokenizer.ts';
import type { QwenVlConfig } from './config.ts';

/** What a Qwen2-VL folder gives besides its weights and config: its tokenizer, chat template and image processor. */
export interface QwenIo { tokenizer: Qwen2Tokenizer; template: ChatTemplate; processor: Qwen2VLImageProcessor }

/**
 * Qwen2-VL and Qwen2.5-VL behind the model seam: prompts from the folder's own chat template (the
 * image, then MLLMU-Bench's question body, the generation prompt), answers scored with the
 * template's <|im_end|>, images through the folder's image processor.
 */
export class QwenVlModel extends QwenVlNet {
  readonly kind: string;
  readonly displayName: string;

  constructor(w: WeightSource, config: QwenVlConfig, readonly io: QwenIo, origin: Origin, runtime: Runtime) {
    super(w, config, origin, runtime);
    this.kind = config.variant;
    this.displayName = config.variant === 'qwen2_5_vl' ? 'Qwen2.5-VL' : 'Qwen2-VL';
    this.eval();
  }

  get tokenizer(): Qwen2Tokenizer { return this.io.tokenizer; }
  get stopId(): number { return this.io.tokenizer.special.imEnd; }

  get layout(): QwenLayout {
    const { special } = this.io.tokenizer;
    return { imagePad: special.imagePad, padId: special.endOfText, mergeSize: this.config.vision.mergeSize, patchDim: this.visual.patchDim, device: this.runtime.device };
  }

  protected prepareImage(image: ImageInput): Promise<QwenImage> {
    return image.kind === 'encoded' ? this.io.processor.process(image.bytes, image.source) : this.io.processor.process(image, 'an image');
  }

  /**
   * The prompt's ids (each image's <|image_pad|> repeated once per image token), and the
   * answer's ids with <|im_end|> as they follow the prompt in the tokenized whole.
   */
  protected tokenRow(prompt: string, answer: string, image: QwenImage | null): QwenRow {
    const { tokenizer, template } = this.io;
    const counts = image ? [image.imageTokens] : [];
    if (answer === '') return { prompt: tokenizer.expandImagePads(tokenizer.encode(template.prompt(prompt, counts.length)), counts), answer: [], image };
    const text = template.trainingText(prompt, counts.length, answer);
    const promptIds = tokenizer.encode(text.prompt);
    const whole = tokenizer.encode(text.prompt + text.completion);
    if (!promptIds.every((id, i) => whole[i] === id)) {
      throw new PulseError(`the tokenizer merges the prompt's end with the answer ${JSON.stringify(answer.slice(0, 40))}: cannot tell answer tokens apart`);
    }
    return { prompt: tokenizer.expandImagePads(promptIds, counts), answer: whole.slice(promptIds.length), image };
  }

  protected letterPrompt(question: ScoredQuestion): string { return mllmuQuestionBody(question); }

  protected get maxPositions(): number { return this.config.text.maxPositions; }

  /** the prompt's <|image_pad|> are already one per image token */
  protected positions(row: QwenRow): number { return row.prompt.length + row.answer.length; }

  protected encodeRows(rows: readonly QwenRow[]): QwenPiece { return encodeQwenRows(this.kind, rows, this.layout); }

  /** Each image row's merged features, from one pass of the tower over all the rows' images. */
  protected withFeatures(rows: readonly QwenRow[]): QwenRow[] {
    const images = rows.flatMap((r) => (r.image ? [r.image] : []));
    if (images.length === 0) return [...rows];
    const features = scope(() => {
      const all = this.imageFeatures(patchTensor(images, this.layout), images.map((i) => i.grid));
      let at = 0;
      return images.map((i) => keep(all.narrow(0, (at += i.imageTokens) - i.imageTokens, i.imageTokens).contiguous()));
    });
    let next = 0;
    return rows.map((r) => (r.image ? { ...r, features: features[next++]! } : r));
  }

  protected sharedCopy(source: WeightSource): QwenVlModel {
    return new QwenVlModel(source, this.config, this.io, { ...this.origin, weights: null }, this.runtime);
  }

  decode(ids: readonly number[]): string { return this.io.tokenizer.decode(ids); }
}
