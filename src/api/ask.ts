import { readFileBounded } from '../input-file.ts';
import { loadModel, specForPath } from '../model/registry.ts';
import { checkedImage } from '../data/images.ts';
import { setNumThreads, defaultThreads, noGrad, scope } from '../torch/index.ts';
import { LETTERS, type Letter } from '../text/multiple-choice.ts';
import { PulseError } from '../errors.ts';
import { BASE_MODEL } from '../paths.ts';

export interface AskInput {
  /** an embedded model file (.safetensors) or a Hugging Face LLaVA folder (default: the shipped base model) */
  model?: string;
  /** the model kind when the path does not tell (embedded, llava) */
  kind?: string;
  /** the image the question is about: a file (PNG, JPEG, ...) or its bytes */
  image?: string | Uint8Array;
  question: string;
  /** 2 to 4 options */
  options: readonly string[];
  /** LLaVA only: cpu, cuda or cuda:N */
  device?: string;
  /** LLaVA only: weights in memory */
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** CPU threads for libtorch (default: all cores) */
  threads?: number;
}

export interface Answer {
  model: { kind: string; name: string };
  question: string;
  /** the image file, when one was given by path */
  image: string | null;
  /** the answer as letter scoring reads it; null when the greedy answer does not start with an offered letter */
  answer: Letter | null;
  /** the option likelihood scoring ranks first */
  most_likely: Letter;
  /** each option's log-likelihood as the answer, summed over its tokens */
  options: { letter: Letter; option: string; log_likelihood: number }[];
  /** the 20 most probable next tokens where the answer is read */
  next_tokens: { id: number; token: string; log_prob: number }[];
}

/** Asks a model one multiple-choice question, with an image or not, as `pulse ask` does. */
export async function ask(input: AskInput): Promise<Answer> {
  const options = [...input.options];
  if (options.length < 2 || options.length > 4 || options.some((o) => o.trim() === '')) throw new PulseError(`options: expected 2 to 4 non-empty options, got ${options.length}`);
  setNumThreads(input.threads ?? defaultThreads());
  const extra: Record<string, unknown> = {};
  if (input.device) extra.device = input.device;
  if (input.dtype) extra.dtype = input.dtype;
  const where = typeof input.image === 'string' ? input.image : 'image';
  let bytes: Uint8Array | undefined;
  if (typeof input.image === 'string') {
    bytes = readFileBounded(input.image, 256 << 20, 'an image', 'no such file (--image)');
  } else {
    bytes = input.image;
  }
  const image = bytes ? await checkedImage(bytes, where) : undefined;
  const model = await loadModel(specForPath(input.model ?? BASE_MODEL, input.kind, extra));
  try {
    const question = { question: input.question, options, answer: 'A' as const, image };
    const letter = (await model.predict([question], 'letter'))[0]!.choice;
    const batch = await model.encode(options.map((o) => ({ image, prompt: input.question, answer: o })));
    const sums = noGrad(() => scope(() => model.answerLogProbs(batch).sum.toArray()));
    batch.dispose();
    const best = sums.indexOf(Math.max(...sums));
    const next = await model.nextTokens(question, 20);
    return {
      model: { kind: model.info.kind, name: model.info.name }, question: input.question, image: typeof input.image === 'string' ? input.image : null,
      answer: letter ?? null, most_likely: LETTERS[best]!, options: options.map((o, i) => ({ letter: LETTERS[i]!, option: o, log_likelihood: sums[i]! })),
      next_tokens: next.map((t) => ({ id: t.id, token: t.token, log_prob: t.logProb })),
    };
  } finally {
    model.dispose();
  }
}
