import { Module, cat, arange, conv2d, scope, type LayerNorm, type Tensor, type Embedding } from '../../torch/index.ts';
import type { LoraLinear } from '../lora.ts';
import { attend, mergeHeads, splitHeads } from '../blocks/attention.ts';
import { quickGelu } from '../blocks/activations.ts';
import type { ClipVisionConfig } from './config.ts';
import type { WeightSource } from '../hf/source.ts';

/**
 * CLIP's ViT vision tower (transformers' CLIPVisionTransformer), as LLaVA uses it: patch and
 * position embeddings with a class token, `pre_layrnorm` (spelled so in the checkpoints),
 * pre-norm encoder layers with quick_gelu. LLaVA reads an intermediate layer's output, so
 * `post_layernorm` is loaded (the checkpoint has it) but never applied.
 */

class ClipAttention extends Module {
  readonly q: LoraLinear;
  readonly k: LoraLinear;
  readonly v: LoraLinear;
  readonly out: LoraLinear;
  constructor(w: WeightSource, readonly c: ClipVisionConfig) {
    super();
    this.q = this.module('q_proj', w.linear('q_proj', c.hidden, c.hidden, true));
    this.k = this.module('k_proj', w.linear('k_proj', c.hidden, c.hidden, true));
    this.v = this.module('v_proj', w.linear('v_proj', c.hidden, c.hidden, true));
    this.out = this.module('out_proj', w.linear('out_proj', c.hidden, c.hidden, true));
  }
  forward(x: Tensor): Tensor {
    const h = this.c.heads;
    return this.out.forward(mergeHeads(attend(splitHeads(this.q.forward(x), h), splitHeads(this.k.forward(x), h), splitHeads(this.v.forward(x), h), null)));
  }
}

class ClipLayer extends Module {
  readonly attention: ClipAttention;
  readonly norm1: LayerNorm;
  readonly fc1: LoraLinear;
  readonly fc2: LoraLinear;
  readonly norm2: LayerNorm;
  constructor(w: WeightSource, c: ClipVisionConfig) {
    super();
    this.attention = this.module('self_attn', new ClipAttention(w.at('self_attn'), c));
    this.norm1 = this.module('layer_norm1', w.layerNorm('layer_norm1', c.hidden, c.layerNormEps));
    this.fc1 = this.module('mlp.fc1', w.linear('mlp.fc1', c.hidden, c.intermediate, true));
    this.fc2 = this.module('mlp.fc2', w.linear('mlp.fc2', c.intermediate, c.hidden, true));
    this.norm2 = this.module('layer_norm2', w.layerNorm('layer_norm2', c.hidden, c.layerNormEps));
  }
  forward(x: Tensor): Tensor {
    const h = x.add(this.attention.forward(this.norm1.forward(x)));
    return h.add(this.fc2.forward(quickGelu(this.fc1.forward(this.norm2.forward(h)))));
  }
}

export class ClipVisionTower extends Module {
  readonly classEmbedding: Tensor;
  readonly patchWeight: Tensor;
  readonly positions: Embedding;
  readonly preNorm: LayerNorm;
  readonly layers: ClipLayer[];
  readonly postNorm: LayerNorm;

  constructor(w: WeightSource, readonly c: ClipVisionConfig) {
    super();
    const grid = c.imageSize / c.patchSize;
    this.classEmbedding = this.param('embeddings.class_embedding', w.tensor('embeddings.class_embedding', [c.hidden]));
    this.patchWeight = this.param('embeddings.patch_embedding.weight',
      w.tensor('embeddings.patch_embedding.weight', [c.hidden, c.channels, c.patchSize, c.patchSize]));
    this.positions = this.module('embeddings.position_embedding', w.embedding('embeddings.position_embedding', grid * grid + 1, c.hidden));
    this.preNorm = this.module('pre_layrnorm', w.layerNorm('pre_layrnorm', c.hidden, c.layerNormEps));
    this.layers = Array.from({ length: c.layers }, (_, i) => this.module(`encoder.layers.${i}`, new ClipLayer(w.at(`encoder.layers.${i}`), c)));
    this.postNorm = this.module('post_layernorm', w.layerNorm('post_layernorm', c.hidden, c.layerNormEps));
  }

  /** Class token and patches, position-embedded and pre-normalised: hidden state 0. [N, 1 + P, D] */
  embed(pixels: Tensor): Tensor {
    const patches = conv2d(pixels.to(this.patchWeight.dtype), this.patchWeight, undefined, this.c.patchSize).flatten(2).transpose(1, 2);
    const n = patches.size(0);
    const cls = this.classEmbedding.view(1, 1, this.c.hidden).expand(n, 1, this.c.hidden);
    const tokens = cat([cls, patches], 1);
    const ids = arange(0, tokens.size(1), 1, 'int64', tokens.device);
    return this.preNorm.forward(tokens.add(this.positions.forward(ids)));
  }

  /**
   * Hidden state `layer` (0 = embed()'s output, L = the last layer's; negative counts from the
   * end, as transformers' hidden_states tuple), with the class token dropped: [N, P, D].
   * Layers after the one asked for are not run.
   */
  features(pixels: Tensor, layer: number): Tensor {
    const index = layer < 0 ? this.layers.length + 1 + layer : layer;
    let h = this.embed(pixels);
    for (const l of this.layers.slice(0, index)) {
      const input = h;
      h = scope(() => l.forward(input));
    }
    return h.narrow(1, 1, h.size(1) - 1);
  }
}
