import { availableParallelism } from 'node:os';
import { native } from './native.ts';

/** Seeds libtorch's generators (init, dropout, randn). Same seed, same machine: same numbers. */
export function manualSeed(seed: number): void { native.manualSeed(seed); }
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`thread count must be a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export function getNumThreads(): number { return native.getNumThreads(); }
/** Threads to use when the user says nothing: every core (libtorch may start with 1 here). */
export function defaultThreads(): number { return Math.max(1, availableParallelism()); }
/** Number of native tensors alive now: the leak check of tests and long runs. */
export function liveTensorCount(): number { return native.liveTensors(); }
/** CPU bytes of the live tensors that no scope will dispose, as reported to V8 (what can prompt a GC). */
export function accountedBytes(): number { return native.accountedBytes(); }
export function cudaAvailable(): boolean { return native.cudaAvailable(); }
export function libtorchVersion(): string { return native.version(); }
export function setDeterministic(on: boolean): void { native.setDeterministic(on); }
export function isGradEnabled(): boolean { return native.isGradEnabled(); }
