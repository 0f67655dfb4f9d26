import { keep, type Tensor } from '../../torch/index.ts';

/**
 * The vision encoder's output for the image batches scored since the vision weights last changed.
 * A request's scoring points (eval.every) score the same questions in the same batches while only
 * the projector and the language model train, so the features are computed once per request. The
 * model clears the cache whenever weights may change and bypasses it while a vision weight trains;
 * a hit returns exactly what the encoder would compute again on the same batch.
 */
export class VisualCache {
  readonly #ids = new WeakMap<Uint8Array, number>();
  #next = 0;
  readonly #features = new Map<string, Tensor>();

  constructor(private readonly limit = 512) {}

  /** A batch's identity: its images' identities, in order. */
  key(images: readonly Uint8Array[]): string {
    return images.map((image) => {
      let id = this.#ids.get(image);
      if (id === undefined) this.#ids.set(image, (id = this.#next++));
      return id;
    }).join(',');
  }

  /** The cached features of a batch, or `compute()`'s, kept for the next time (up to `limit` batches). */
  get(key: string, compute: () => Tensor): Tensor {
    const hit = this.#features.get(key);
    if (hit) return hit;
    const features = compute();
    if (this.#features.size >= this.limit) return features;
    this.#features.set(key, keep(features));
    return features;
  }

  clear(): void {
    for (const t of this.#features.values()) t.dispose();
    this.#features.clear();
  }
}
