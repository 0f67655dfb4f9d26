import { Tensor, tensor } from '../../torch/index.ts';
import { BOS, EOS, PAD, type Tokenizer } from './tokenizer.ts';
import { userTurn } from './prompt.ts';
import { PulseError } from '../../errors.ts';

/**
 * One training or scoring sequence with its image already at the model's input size: the user's
 * text (the template is added here), RGB pixels (HWC bytes, imageSize²·3) or none, and the
 * assistant's answer whose tokens are scored.
 */
export interface PixelExample {
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
  /** answer tokens (with <eos>) over all rows */
  answerTokens: number;
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

export function encodeBatch(examples: readonly PixelExample[], tokenizer: Tokenizer, imageSize: number, maxTextLength: number): EncodedBatch {
  if (examples.length === 0) throw new RangeError('empty batch');
  const withImage = examples[0]!.image !== undefined;
  if (examples.some((e) => (e.image !== undefined) !== withImage)) throw new RangeError('a batch mixes examples with and without images');
  const rows = examples.map((e) => {
    const prompt = [BOS, ...tokenizer.encode(userTurn(e.prompt, withImage))];
    const answer = e.answer === '' ? [] : [...tokenizer.encode(e.answer), EOS];
    return { prompt, answer };
  });
  const length = Math.max(...rows.map((r) => r.prompt.length + r.answer.length));
  if (length > maxTextLength) throw new PulseError(`a question and answer of ${length} tokens do not fit the model, which takes ${maxTextLength}`);
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
    answerTokens: answerPositions.length,
    size: examples.length,
  };
}

/**
 * Several candidate answers to one prompt, packed into one row: [visual] <bos> prompt, then each
 * option's tokens and <eos>. Each option restarts its positions where the prompt ends and sees
 * only the prompt and itself, so its log-probability equals the one of a separate sequence
 * prompt + option, for a fraction of the compute.
 */
export interface PackedOptionsBatch {
  images: Tensor | null;
  ids: Tensor;
  /** [B, visual + L] positions of every token, visual tokens first */
  positions: Tensor;
  /** [B, 1, visual + L, visual + L], true where attention is blocked */
  mask: Tensor;
  /** flat text positions (row·L + t) from which each scored token is predicted */
  source: Tensor;
  /** the scored token at each source */
  target: Tensor;
  /** which (row, option) each scored token belongs to: index into `options` */
  owner: number[];
  /** per row, the number of options */
  optionCounts: number[];
  size: number;
}

export function encodePackedOptions(items: readonly { image?: Uint8Array | undefined; prompt: string; options: readonly string[] }[], tokenizer: Tokenizer, imageSize: number, visualTokens: number, maxPosition: number): PackedOptionsBatch {
  if (items.length === 0) throw new RangeError('empty batch');
  const withImage = items[0]!.image !== undefined;
  if (items.some((e) => (e.image !== undefined) !== withImage)) throw new RangeError('a batch mixes examples with and without images');
  const visual = withImage ? visualTokens : 0;
  const rows = items.map((item) => {
    const prompt = [BOS, ...tokenizer.encode(userTurn(item.prompt, withImage))];
    const options = item.options.map((o) => [...tokenizer.encode(o), EOS]);
    const longest = Math.max(...options.map((o) => o.length));
    if (visual + prompt.length + longest > maxPosition) {
      throw new PulseError(`a question and its longest option need ${visual + prompt.length + longest} positions, more than the model's ${maxPosition}`);
    }
    return { prompt, options };
  });
  const length = Math.max(...rows.map((r) => r.prompt.length + r.options.reduce((n, o) => n + o.length, 0)));
  const total = visual + length;
  const B = items.length;
  const ids = new BigInt64Array(B * length).fill(BigInt(PAD));
  const positions = new BigInt64Array(B * total);
  const mask = new Uint8Array(B * total * total);
  const source: number[] = [];
  const target: number[] = [];
  const owner: number[] = [];
  let optionIndex = 0;
  rows.forEach((r, b) => {
    // block of each position: -1 for the visual tokens and the prompt, k for option k, -2 for padding
    const block = new Int32Array(total).fill(-2);
    for (let t = 0; t < visual; t++) { block[t] = -1; positions[b * total + t] = BigInt(t); }
    r.prompt.forEach((id, t) => { ids[b * length + t] = BigInt(id); block[visual + t] = -1; positions[b * total + visual + t] = BigInt(visual + t); });
    let at = r.prompt.length;
    r.options.forEach((option, k) => {
      option.forEach((id, j) => {
        ids[b * length + at + j] = BigInt(id);
        block[visual + at + j] = k;
        positions[b * total + visual + at + j] = BigInt(visual + r.prompt.length + j);
        // token j of the option is predicted from the prompt's last token (j = 0) or option token j - 1
        source.push(b * length + (j === 0 ? r.prompt.length - 1 : at + j - 1));
        target.push(id);
        owner.push(optionIndex);
      });
      at += option.length;
      optionIndex++;
    });
    for (let t = visual + at; t < total; t++) positions[b * total + t] = BigInt(Math.min(t, maxPosition - 1));
    for (let i = 0; i < total; i++) {
      for (let j = 0; j < total; j++) {
        const visible = j <= i && (block[j] === -1 || block[j] === block[i]);
        // a padding row still needs one visible key, or its softmax is all -inf (NaN)
        mask[(b * total + i) * total + j] = visible || (block[i] === -2 && j === 0) ? 0 : 1;
      }
    }
  });
  let images: Tensor | null = null;
  if (withImage) {
    const plane = imageSize * imageSize * 3;
    const pixels = new Float32Array(B * plane);
    items.forEach((e, b) => imageToChw(e.image!, imageSize, pixels, b * plane));
    images = tensor(pixels, [B, 3, imageSize, imageSize]);
  }
  return {
    images,
    ids: tensor(ids, [B, length]),
    positions: tensor(positions, [B, total]),
    mask: tensor(mask, [B, 1, total, total], 'bool'),
    source: tensor(source, [source.length], 'int64'),
    target: tensor(target, [target.length, 1], 'int64'),
    owner,
    optionCounts: rows.map((r) => r.options.length),
    size: B,
  };
}
