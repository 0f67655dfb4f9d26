import { Tensor, tensor } from '../torch/index.ts';
import { BOS, EOS, PAD, type Tokenizer } from './tokenizer.ts';
import { userTurn } from './prompt.ts';

/**
 * One training or scoring sequence: the user's text (the template is added here), an optional
 * RGB image (HWC bytes, imageSize²·3), and the assistant's answer whose tokens are scored.
 */
export interface Example {
  image?: Uint8Array | undefined;
  prompt: string;
  answer: string;
}

export const IGNORE = -100;

/**
 * A batch of examples of one modality (all with an image or none), tokenized and right-padded:
 * ids = <bos> USER: ... ASSISTANT: answer <eos> <pad>...; targets[t] is the token the model must
 * predict after position t when that token belongs to the answer (or its <eos>), else IGNORE.
 */
export interface EncodedBatch {
  images: Tensor | null;
  ids: Tensor;
  targets: Tensor;
  /** index of the last prompt token per row (where the first answer token is predicted) */
  promptEnd: number[];
  /** flat indices (row·length + t) of the positions whose target is an answer token */
  answerIndex: Tensor;
  size: number;
}

export function imageToChw(image: Uint8Array, size: number, out: Float32Array, offset: number): void {
  const plane = size * size;
  if (image.length !== plane * 3) throw new RangeError(`image has ${image.length} bytes, expected ${plane * 3} (${size}x${size} RGB)`);
  // Pixels to [-1, 1], channels first.
  for (let p = 0; p < plane; p++) {
    out[offset + p] = image[p * 3]! / 127.5 - 1;
    out[offset + plane + p] = image[p * 3 + 1]! / 127.5 - 1;
    out[offset + 2 * plane + p] = image[p * 3 + 2]! / 127.5 - 1;
  }
}

export function encodeBatch(examples: readonly Example[], tokenizer: Tokenizer, imageSize: number, maxTextLength: number): EncodedBatch {
  if (examples.length === 0) throw new RangeError('empty batch');
  const withImage = examples[0]!.image !== undefined;
  if (examples.some((e) => (e.image !== undefined) !== withImage)) throw new RangeError('a batch mixes examples with and without images');
  const rows = examples.map((e) => {
    const prompt = [BOS, ...tokenizer.encode(userTurn(e.prompt, withImage))];
    const answer = e.answer === '' ? [] : [...tokenizer.encode(e.answer), EOS];
    return { prompt, answer };
  });
  const length = Math.max(...rows.map((r) => r.prompt.length + r.answer.length));
  if (length > maxTextLength) throw new RangeError(`a sequence has ${length} tokens, more than the model's ${maxTextLength}`);
  const ids = new BigInt64Array(examples.length * length).fill(BigInt(PAD));
  const targets = new BigInt64Array(examples.length * length).fill(BigInt(IGNORE));
  rows.forEach((r, b) => {
    const seq = [...r.prompt, ...r.answer];
    seq.forEach((id, t) => { ids[b * length + t] = BigInt(id); });
    // position t predicts token t+1: the answer tokens are predicted from the last prompt token on
    for (let k = 0; k < r.answer.length; k++) targets[b * length + r.prompt.length - 1 + k] = BigInt(r.answer[k]!);
  });
  let images: Tensor | null = null;
  if (withImage) {
    const plane = imageSize * imageSize * 3;
    const pixels = new Float32Array(examples.length * plane);
    examples.forEach((e, b) => imageToChw(e.image!, imageSize, pixels, b * plane));
    images = tensor(pixels, [examples.length, 3, imageSize, imageSize]);
  }
  const answerPositions: number[] = [];
  targets.forEach((t, i) => { if (t !== BigInt(IGNORE)) answerPositions.push(i); });
  return {
    images,
    answerIndex: tensor(answerPositions, [answerPositions.length], 'int64'),
    ids: tensor(ids, [examples.length, length]),
    targets: tensor(targets, [examples.length, length]),
    promptEnd: rows.map((r) => r.prompt.length - 1),
    size: examples.length,
  };
}

/** Splits examples into batches of one modality each, keeping the original order within each. */
export function byModality<T extends { image?: Uint8Array | undefined }>(items: readonly T[]): { withImage: number[]; textOnly: number[] } {
  const withImage: number[] = [];
  const textOnly: number[] = [];
  items.forEach((item, i) => (item.image !== undefined ? withImage : textOnly).push(i));
  return { withImage, textOnly };
}
