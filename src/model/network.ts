import { Module, cat, scope, tensor, type Tensor } from '../torch/index.ts';
import { LoraLinear } from './lora.ts';
import type { DecoderContext, DecoderStack } from './blocks/decoder.ts';
import type { Checkpointer } from './checkpointing.ts';
import { PARTS, type Part } from './model.ts';

/**
 * The network interface a multimodal model family implements (transformers' composition of a
 * vision tower, a projector and a decoder-only language model): its input embeddings with the
 * image features in place, its decoder's context (rotary tables, attention mask), the decoder,
 * the head, and its parts. Everything else of the forward pass, and LoRA's choice of layers, is
 * the same for every family and lives here.
 */
export abstract class DecoderNetwork<I> extends Module {
  abstract readonly language: DecoderStack;
  abstract readonly head: LoraLinear;
  /** per-decoder-layer gradient checkpointing (recompute in backward), or null */
  checkpointer: Checkpointer | null = null;

  /** Token embeddings with each image's features in its tokens' places, [B, T, D]. */
  abstract inputEmbeddings(inputs: I): Tensor;
  /** The decoder's rotary tables and attention mask for a forward pass of `dtype` activations. */
  abstract context(inputs: I, dtype: string): DecoderContext;
  /** A part's module and the prefix of its parameters' names. */
  abstract part(name: Part): { module: Module; prefix: string };

  /** How many decoder layers the language model has. */
  get llmLayers(): number { return this.language.layers.length; }

  /** Final-norm hidden states [B, T, D]. */
  hidden(inputs: I): Tensor {
    return this.language.norm.forward(this.residualAfter(inputs, this.language.layers.length - 1));
  }

  /** The residual stream after decoder layer `layer` (0-based), [B, T, D], before the final norm; the layers above it do not run. */
  residualAfter(inputs: I, layer: number): Tensor {
    const h = this.inputEmbeddings(inputs);
    const ctx = this.context(inputs, h.dtype);
    // Each layer in its own scope: what backward needs, autograd keeps; the rest is freed at once, as in PyTorch.
    const layers = this.language.layers.slice(0, layer + 1).map((decoder) => (x: Tensor) => scope(() => decoder.forward(x, ctx)));
    return this.checkpointer ? this.checkpointer.run(h, layers) : layers.reduce((x, run) => run(x), h);
  }

  /** Backpropagates a loss computed from this model's outputs (with checkpointing, through the recomputed layers too). */
  backward(loss: Tensor): void {
    loss.backward();
    this.checkpointer?.backward();
  }

  /** Logits [.., vocabulary] of hidden states (all positions, or only those a caller selected). */
  logits(hidden: Tensor): Tensor { return this.head.forward(hidden); }

  /**
   * Whether lm_head takes an adapter. Not when it is the token embedding (tied): folding its adapter
   * in would change the embedding too, so the merged model would not be the adapted one.
   */
  protected get headTakesAdapter(): boolean { return true; }

  /** Linear layers of the given parts that can take an adapter, by full name; the LM part includes lm_head (unless tied). */
  loraLayers(parts: readonly Part[] = PARTS): [string, LoraLinear][] {
    return parts.flatMap((p) => {
      const { module, prefix } = this.part(p);
      const own = module.namedModules(prefix).filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
      return p === 'llm' && this.headTakesAdapter ? [...own, ['lm_head', this.head] as [string, LoraLinear]] : own;
    });
  }
}

/**
 * Token embeddings with image features in the places `slots` lists (flat row·T + t, ascending):
 * the text rows and the feature rows are stacked, and one index picks, for each position, its own
 * row or the next feature row (transformers' masked_scatter, as a gather so that it is
 * differentiable). `mismatch` makes the error when the counts differ.
 */
export function placeFeatures(text: Tensor, features: Tensor, slots: readonly number[], mismatch: (tokens: number, features: number) => Error): Tensor {
  const [b, t, d] = text.shape as [number, number, number];
  if (slots.length !== features.size(0)) throw mismatch(slots.length, features.size(0));
  const pick = Array.from({ length: b * t }, (_, i) => i);
  slots.forEach((slot, k) => { pick[slot] = b * t + k; });
  const rows = cat([text.view(b * t, d), features.to(text.dtype)], 0);
  return rows.indexSelect(0, tensor(pick, [pick.length], 'int64', text.device)).view(b, t, d);
}
