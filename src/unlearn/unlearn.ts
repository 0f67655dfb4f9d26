import { AdamW, clipGradNorm, manualSeed, scope, Tensor } from '../torch/index.ts';
import { PulseError } from '../errors.ts';
import type { Example } from '../data/records.ts';
import { disposeDelta, type ModelBatch, type Part, type PulseModel, type ReferenceModel, type StateDelta } from '../model/model.ts';
import type { LoraOptions } from '../model/lora.ts';
import { deriveSeed, endlessShuffle, rng, shuffled } from '../random.ts';
import { silentProgress, type ProgressFactory } from '../progress.ts';
import { noEarlierDeltas, type RequestContext, type RequestState, type StepTotals, type UnlearningMethod } from './method.ts';

export interface UnlearnSettings {
  lr: number;
  epochs: number;
  batchSize: number;
  clipNorm: number;
  /** LoRA adapters on the target's linear layers (merged after the request), or null for a full update */
  lora: (LoraOptions & { layers: string[] }) | null;
  target: Part[];
  hyperparameters: Record<string, number>;
  seed: number;
  /** "I don't know"-style answers for methods with needsRefusals, assigned to the forget examples seeded */
  refusals?: readonly string[];
}

/** A loss that is not a finite number: the method diverged on this request. */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

/**
 * Scoring points inside a request (the trajectory): after every epoch but the last, or every N
 * steps before the end. `score` sees the model mid-request (adapters attached, not merged) and
 * returns true to end the request there.
 */
export interface Probe { every: 'epoch' | number; score(step: number): Promise<boolean> }

export interface RequestOutcome {
  loss: { first: number | null; last: number | null };
  steps: number;
  /** the probe ended the request before its last epoch */
  stoppedEarly: boolean;
  /** what the request changed: the merged adapters, or the target's new values after a full update */
  delta: StateDelta;
}

/**
 * One unlearning request: `method` minimises its loss on the forget examples (and retain ones
 * where it uses them) for `epochs` passes in seeded mini-batches, updating only `target`.
 * The reference model is the model as it was before this request. Adapters, when used, are
 * merged at the end so that the next request starts from plain weights. On a divergence the
 * model is left with the partial update (the caller resets it). A method with a `prepare` hook
 * gets its state before the first step (`earlierDeltas` reads the sequence's earlier requests).
 */
export async function unlearnRequest(model: PulseModel, method: UnlearningMethod, forget: readonly Example[], retain: readonly Example[], settings: UnlearnSettings, progress: ProgressFactory = silentProgress, label = method.name, probe?: Probe,
  earlierDeltas: RequestContext['earlierDeltas'] = noEarlierDeltas): Promise<RequestOutcome> {
  manualSeed(settings.seed);
  const random = rng(deriveSeed(settings.seed, 'batches'));
  if (settings.lora) model.attachLora({ ...settings.lora, parts: settings.target });
  const params = model.trainableParameters(settings.target);
  // Taken once the adapters and the trainable tensors are chosen: with LoRA it costs no copy.
  const reference = method.needsReference ? model.reference() : null;
  const optimizer = new AdamW(params, { lr: settings.lr, weightDecay: 0 });
  const batchesPerEpoch = Math.ceil(forget.length / settings.batchSize);
  const total = settings.epochs * batchesPerEpoch;
  const bar = progress(label, total);
  const losses: number[] = [];
  const refusalOf = method.needsRefusals ? assignRefusals(forget, settings, method.name) : null;
  const retainStream = endlessShuffle(retain, random);
  const nextRetain = (n: number): Example[] => (retain.length > 0 ? Array.from({ length: n }, retainStream) : []);
  let finished = false;
  let stoppedEarly = false;
  let delta: StateDelta;
  let state: RequestState | undefined;
  const probeDue = (step: number, epochEnd: boolean) => probe !== undefined && step < total
    && (probe.every === 'epoch' ? epochEnd : step % probe.every === 0);
  try {
    // Before training mode: a method's preparation (a Fisher estimate) sees the model as evaluation does.
    state = await method.prepare?.({ model, params, forget, retain, settings, earlierDeltas });
    model.setTraining(true);
    training: for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const order = shuffled(forget, random);
      for (let b = 0; b < batchesPerEpoch; b++) {
        const forgetBatch = order.slice(b * settings.batchSize, (b + 1) * settings.batchSize);
        const retainBatch = method.needsRetain ? nextRetain(forgetBatch.length) : [];
        optimizer.zeroGrad();
        const extras = { refusals: refusalOf && forgetBatch.map(refusalOf), ...(state ? { state } : {}) };
        const loss = await lossAndGradient(model, method, reference, forgetBatch, retainBatch, settings.hyperparameters, extras);
        if (!Number.isFinite(loss)) throw new DivergenceError(`${method.name}: the loss became ${loss} at step ${losses.length + 1} of ${total}`);
        state?.adjustGradients?.();
        clipGradNorm(params, settings.clipNorm);
        optimizer.step();
        losses.push(loss);
        bar.update(losses.length, `loss ${loss.toFixed(3)}`);
        if (probeDue(losses.length, b === batchesPerEpoch - 1) && await probe!.score(losses.length)) {
          stoppedEarly = true;
          break training;
        }
      }
    }
    bar.finish(`loss ${losses.at(-1)?.toFixed(3) ?? '-'}`);
    finished = true;
  } finally {
    state?.dispose();
    optimizer.dispose();
    for (const p of params) p.zeroGrad();
    model.setTraining(false);
    delta = settings.lora ? model.mergeLora() : model.parameterDelta(settings.target);
    model.freeze();
    reference?.dispose();
    if (!finished) disposeDelta(delta);
  }
  return { loss: { first: losses[0] ?? null, last: losses.at(-1) ?? null }, steps: losses.length, stoppedEarly, delta };
}

/**
 * Each forget example with a refusal as its answer (IdkNLL's target, IdkDPO's preferred answer),
 * drawn from `settings.refusals` by a stream of the request's seed of its own, so the batches'
 * order is the same as without. The same example keeps its refusal for the whole request.
 */
function assignRefusals(forget: readonly Example[], settings: UnlearnSettings, method: string): (e: Example) => Example {
  const refusals = settings.refusals ?? [];
  if (refusals.length === 0) throw new RangeError(`${method} needs refusal answers (the data's refusals), and there are none`);
  const random = rng(deriveSeed(settings.seed, 'refusals'));
  const assigned = new Map<Example, Example>();
  for (const e of forget) if (!assigned.has(e)) assigned.set(e, { ...e, answer: refusals[Math.floor(random() * refusals.length)]! });
  return (e) => assigned.get(e)!;
}

/** What some methods' steps take besides the batches: refusal answers row for row with forget (IdK methods), the request's state. */
export interface StepExtras { refusals?: readonly Example[] | null; state?: RequestState }

/**
 * One step's loss; its gradient is left in the parameters when the loss is finite. A batch the
 * model runs as micro-batches (`accumulate`) is one graph per micro-batch, each mean divided by
 * the whole step's counts, so the gradients add up to the whole batch's.
 */
export async function lossAndGradient(model: PulseModel, method: UnlearningMethod, reference: ReferenceModel | null,
  forget: readonly Example[], retain: readonly Example[], hyperparameters: Record<string, number>, { refusals, state }: StepExtras = {}): Promise<number> {
  const forgetBatch = await model.encode(forget);
  const retainBatch = retain.length > 0 ? await model.encode(retain) : null;
  const refusalBatch = refusals ? await model.encode(refusals) : null;
  try {
    const step = (f: ModelBatch, r: ModelBatch | null, totals?: StepTotals, refusal = refusalBatch) => scope(() => {
      const extras = { ...(refusal ? { refusal } : {}), ...(state ? { state } : {}) };
      const value = method.loss({ model, reference, forget: f, retain: r, hyperparameters, totals, ...extras });
      // a plug-in's loss is the user's code: a wrong return is its error, not pulse's
      if (!(value instanceof Tensor) || value.numel !== 1) {
        const got = value instanceof Tensor ? `shape [${value.shape.join(', ')}]` : typeof value;
        throw new PulseError(`${method.name}: loss must return a one-element Tensor, got ${got}`);
      }
      const number = value.item();
      if (Number.isFinite(number)) model.backward(value);
      return number;
    });
    if (!forgetBatch.accumulate) return step(forgetBatch, retainBatch);
    const totals = { forgetItems: forgetBatch.size, forgetTokens: forgetBatch.answerTokens, retainTokens: retainBatch?.answerTokens ?? 0,
      ...(refusalBatch ? { refusalTokens: refusalBatch.answerTokens } : {}) };
    const retainPieces = retainBatch?.pieces ?? [];
    if (retainBatch && retainPieces.length !== forgetBatch.pieces.length) throw new Error('forget and retain batches split into different numbers of micro-batches');
    if (refusalBatch && refusalBatch.pieces.length !== forgetBatch.pieces.length) throw new Error('forget and refusal batches split into different numbers of micro-batches');
    let loss = 0;
    for (const [i, piece] of forgetBatch.pieces.entries()) {
      loss += step(piece, retainPieces[i] ?? null, totals, refusalBatch?.pieces[i] ?? null);
      if (!Number.isFinite(loss)) break;
    }
    return loss;
  } finally {
    forgetBatch.dispose();
    retainBatch?.dispose();
    refusalBatch?.dispose();
  }
}
