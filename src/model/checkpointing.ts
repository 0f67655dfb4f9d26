import { isGradEnabled, noGrad, type Tensor } from '../torch/index.ts';

/**
 * Gradient checkpointing for a stack of layers, by hand: libtorch's C++ API has no
 * torch.utils.checkpoint. The forward runs each layer without a graph, keeping only its input;
 * after the loss's backward has filled the gradient of the last output, backward() walks the
 * layers from the top, recomputing each with a graph from its kept input and pushing the
 * gradient through it. Memory: one layer's activations at a time plus every layer's input.
 */
interface Tape {
  /** the stack's input, still attached to the graph below it (embeddings, projector, vision) */
  input: Tensor;
  /** each layer's input as a leaf, and the layer */
  steps: { input: Tensor; run: (x: Tensor) => Tensor }[];
  /** the stack's output as a leaf: the loss's backward stops here */
  output: Tensor;
}

export class Checkpointer {
  #tapes: Tape[] = [];

  /** Runs `layers` over `x`: taped when gradients are on, plainly otherwise. */
  run(x: Tensor, layers: readonly ((x: Tensor) => Tensor)[]): Tensor {
    if (!isGradEnabled()) return layers.reduce((h, layer) => layer(h), x);
    this.#tapes = this.#tapes.filter((t) => !t.output.isDisposed);
    const steps: Tape['steps'] = [];
    let h = x;
    for (const run of layers) {
      const input = h.detach().setRequiresGrad(true);
      steps.push({ input, run });
      h = noGrad(() => run(input));
    }
    const output = h.detach().setRequiresGrad(true);
    this.#tapes.push({ input: x, steps, output });
    return output;
  }

  /** After loss.backward(): pushes each taped stack's output gradient down to its input, newest stack first. */
  backward(): void {
    const tapes = this.#tapes.reverse();
    this.#tapes = [];
    for (const tape of tapes) {
      if (tape.output.isDisposed) continue;
      let grad = tape.output.grad;
      if (!grad) continue;
      for (const step of [...tape.steps].reverse()) {
        const out = step.run(step.input);
        out.backward(grad);
        grad.dispose();
        out.dispose();
        grad = step.input.grad;
        if (!grad) throw new Error('checkpointing: a layer passed no gradient to its input');
      }
      if (tape.input.requiresGrad) tape.input.backward(grad);
      grad.dispose();
    }
  }
}
