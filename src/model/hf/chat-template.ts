import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { PulseError, errorExcerpt, excerpt } from '../../errors.ts';
import { LETTERS, type McQuestion } from '../../text/multiple-choice.ts';
import { readFolderJson, readFolderText } from './files.ts';

/**
 * A model folder's chat template, rendered as transformers' apply_chat_template renders it, by a
 * real Jinja implementation (@huggingface/jinja: trim_blocks and lstrip_blocks as transformers
 * sets them, loop controls, raise_exception, strftime_now, tojson, the {% generation %} tag), with
 * the tokenizer's special tokens (bos_token, eos_token...) as variables. On top: the prompts of
 * MLLMU-Bench's multiple-choice questions and the texts of training rows, for any model family
 * whose template renders an image placeholder (Qwen2-VL's <|image_pad|>, LLaVA's <image>).
 */

/** A part of a message in transformers' multimodal form. */
export type ChatContent = { type: 'image' } | { type: 'text'; text: string };
export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: readonly ChatContent[] }

/** The special tokens transformers passes to every template (the tokenizer's special_tokens_map). */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** MLLMU-Bench's instruction after a multiple-choice question's options. */
export const MLLMU_LETTER_INSTRUCTION = 'Just give ONE letter representing the answer directly.';

/** MLLMU-Bench's question body: `{question}\nA: ..\nB: ..\nC: ..\nD: ..\n{instruction}`. */
export function mllmuQuestionBody(q: Pick<McQuestion, 'question' | 'options'>): string {
  return `${q.question}\n${q.options.map((o, i) => `${LETTERS[i]}: ${o}`).join('\n')}\n${MLLMU_LETTER_INSTRUCTION}`;
}

/** The user message of a question: its images first (multimodal questions), then its text. */
export function userMessage(text: string, images: number): ChatMessage {
  return { role: 'user', content: [...Array.from({ length: images }, () => ({ type: 'image' }) as const), { type: 'text', text }] };
}

/** A training row's text in two parts: the prompt, then what the model is taught (and scored on) after it. */
export interface TrainingText { prompt: string; completion: string }

/** Stands for the answer while the template's assistant turn is measured; no template alters it. */
const ANSWER_SENTINEL = 'PULSE_ANSWER_5c0ffee';

export class ChatTemplate {
  #answerTurn: { prefix: string; end: string } | undefined;

  private constructor(
    private readonly template: Template,
    /** where the template was read from, for messages */
    readonly source: string,
    /** the placeholder the template renders for an image (`<|image_pad|>`, `<image>`) */
    readonly imageToken: string,
    private readonly variables: Readonly<Record<string, string>>,
  ) {}

  /**
   * The template of a model folder, where transformers looks for it, first found first:
   * processor_config.json's `chat_template`, chat_template.json, chat_template.jinja (transformers
   * 5 saves this), tokenizer_config.json's `chat_template`. A folder without one is an error.
   */
  static load(folder: string, imageToken: string): ChatTemplate {
    const found = findTemplate(folder);
    if (!found) {
      throw new PulseError(`${folder}: no chat template (looked for chat_template.json, chat_template.jinja and the chat_template of processor_config.json and tokenizer_config.json)`);
    }
    return ChatTemplate.fromString(found.text, found.source, imageToken, specialTokens(folder));
  }

  /** A template from its text; `variables` are the special tokens (e.g. { eos_token: '<|im_end|>' }). */
  static fromString(text: string, source: string, imageToken: string, variables: Record<string, string> = {}): ChatTemplate {
    let template: Template;
    try {
      template = new Template(text);
    } catch (e) {
      throw new PulseError(`${source}: the chat template cannot be parsed (${errorExcerpt(e)})`);
    }
    return new ChatTemplate(template, source, imageToken, { ...variables });
  }

  /** apply_chat_template(messages, add_generation_prompt, tokenize=False). */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ ...this.variables, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new PulseError(`${this.source}: the chat template failed to render (${errorExcerpt(e)})`);
    }
  }

  /**
   * The prompt of a question: its user message (`images` images, then `text`) with the generation
   * prompt, and the default system message if the template adds one. The prompt must hold one
   * image placeholder per image: a template that renders none for an image message is an error.
   */
  prompt(text: string, images: number): string {
    if (text.includes(this.imageToken)) {
      throw new PulseError(`the question ${JSON.stringify(excerpt(text))} holds the image placeholder ${this.imageToken} in its text`);
    }
    const rendered = this.render([userMessage(text, images)], true);
    const found = rendered.split(this.imageToken).length - 1;
    if (found !== images) {
      throw new PulseError(found === 0
        ? `${this.source}: the chat template renders no ${this.imageToken} for an image message`
        : `${this.source}: the chat template renders ${found} ${this.imageToken} for ${images} image${images === 1 ? '' : 's'}`);
    }
    return rendered;
  }

  /**
   * A training row: the question's prompt, then the answer and the template's end of turn
   * (`<|im_end|>` for Qwen). See `answerTurn`.
   */
  trainingText(text: string, images: number, answer: string): TrainingText {
    const { prefix, end } = this.answerTurn;
    return { prompt: this.prompt(text, images), completion: `${prefix}${answer}${end}` };
  }

  /**
   * How the template writes an assistant's answer after the generation prompt, measured once by
   * rendering a conversation that ends with one: `prefix` between the prompt and the answer
   * ('' for Qwen, ' ' for LLaVA), `end` after it with trailing whitespace cut (`<|im_end|>` for
   * Qwen). A template that ends the turn with nothing (LLaVA's) ends it with the eos_token.
   */
  get answerTurn(): { prefix: string; end: string } {
    if (this.#answerTurn) return this.#answerTurn;
    const question = userMessage('Q', 0);
    const prompt = this.render([question], true);
    const whole = this.render([question, { role: 'assistant', content: [{ type: 'text', text: ANSWER_SENTINEL }] }], false);
    const at = whole.indexOf(ANSWER_SENTINEL, prompt.length);
    if (!whole.startsWith(prompt) || at < 0) {
      throw new PulseError(`${this.source}: the chat template's assistant turn does not follow its generation prompt: cannot place an answer after a prompt`);
    }
    const end = whole.slice(at + ANSWER_SENTINEL.length).trimEnd() || this.variables.eos_token;
    if (!end) throw new PulseError(`${this.source}: the chat template ends an assistant turn with nothing and the tokenizer has no eos_token`);
    this.#answerTurn = { prefix: whole.slice(prompt.length, at), end };
    return this.#answerTurn;
  }
}

function findTemplate(folder: string): { text: string; source: string } | null {
  for (const file of ['processor_config.json', 'chat_template.json']) {
    const path = join(folder, file);
    const json = readFolderJson(path, null) as { chat_template?: unknown } | null;
    if (json?.chat_template !== undefined && json.chat_template !== null) return { text: templateText(json.chat_template, path), source: path };
  }
  const jinja = join(folder, 'chat_template.jinja');
  const text = readFolderText(jinja, null);
  if (text !== null) return { text, source: jinja };
  const tokenizerConfig = join(folder, 'tokenizer_config.json');
  const config = readFolderJson(tokenizerConfig, null) as { chat_template?: unknown } | null;
  if (config?.chat_template !== undefined && config.chat_template !== null) {
    return { text: templateText(config.chat_template, tokenizerConfig), source: tokenizerConfig };
  }
  return null;
}

/** A `chat_template` value: the template, or tokenizer_config.json's list of named ones (the one named `default`). */
function templateText(value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t: { name?: unknown }) => t?.name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return named.template;
    throw new PulseError(`${path}: chat_template: a list of templates without one named "default"`);
  }
  throw new PulseError(`${path}: chat_template: expected the template's text`);
}

/** The tokenizer's special tokens as transformers hands them to templates: tokenizer_config.json, then special_tokens_map.json. */
function specialTokens(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const json = readFolderJson(join(folder, file), null) as Record<string, unknown> | null;
    for (const key of SPECIAL_TOKEN_KEYS) {
      const value = json?.[key];
      // A token is its text or an AddedToken object with `content`.
      const text = typeof value === 'string' ? value : (value as { content?: unknown } | null | undefined)?.content;
      if (out[key] === undefined && typeof text === 'string') out[key] = text;
    }
  }
  return out;
}
