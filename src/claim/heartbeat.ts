import { Worker } from 'node:worker_threads';

/*
 * One thread per process touches the files of every claim the process holds, so that a claim's
 * heartbeat goes on while the main thread is inside a long libtorch call, and stops only when the
 * process stops (killed, frozen, or its node gone). The thread also notices when a claim was lost
 * (its file removed, or a newer generation of it created by a process that judged it abandoned)
 * and raises that claim's flag in shared memory, which the main thread reads between steps.
 */

const SLOTS = 256;

// Plain JavaScript, evaluated in the thread: it must not load the addon or TypeScript.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { utimesSync, readdirSync } = require('node:fs');
const { dirname, basename } = require('node:path');
const flags = new Int32Array(workerData.flags);
const claims = new Map();
function newerExists(claim) {
  const prefix = basename(claim.prefix) + '.';
  try {
    return readdirSync(dirname(claim.prefix)).some((n) => n.startsWith(prefix) && /^\\d+$/.test(n.slice(prefix.length))
      && Number(n.slice(prefix.length)) > claim.generation);
  } catch { return false; }
}
function tick() {
  const now = Date.now();
  for (const claim of claims.values()) {
    if (now - claim.touched < claim.everyMs) continue;
    claim.touched = now;
    try {
      const seconds = now / 1000;
      utimesSync(claim.path, seconds, seconds);
      if (newerExists(claim)) Atomics.store(flags, claim.slot, 1);
    } catch {
      Atomics.store(flags, claim.slot, 1);
    }
  }
}
parentPort.on('message', (m) => {
  if (m.add) claims.set(m.add.path, { ...m.add, touched: Date.now() });
  if (m.remove) claims.delete(m.remove);
});
setInterval(tick, workerData.tickMs);
`;

let thread: Worker | null = null;
let flags: Int32Array | null = null;
const freeSlots: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);

function start(): { thread: Worker; flags: Int32Array } {
  if (!thread || !flags) {
    const shared = new SharedArrayBuffer(SLOTS * 4);
    flags = new Int32Array(shared);
    thread = new Worker(THREAD, { eval: true, execArgv: [], workerData: { flags: shared, tickMs: 200 } });
    thread.unref();
  }
  return { thread, flags };
}

export interface Beat {
  /** true once the claim's file is gone or a newer generation of it exists */
  lost(): boolean;
  stop(): void;
}

/** Touches `path` (generation `generation` of the claim at `prefix`) every `everySeconds` until stopped. */
export function heartbeat(path: string, prefix: string, generation: number, everySeconds: number): Beat {
  const { thread: worker, flags: shared } = start();
  const slot = freeSlots.pop();
  if (slot === undefined) throw new Error(`more than ${SLOTS} claims held at once by one process`);
  Atomics.store(shared, slot, 0);
  worker.postMessage({ add: { path, prefix, generation, slot, everyMs: everySeconds * 1000 } });
  let stopped = false;
  return {
    lost: () => Atomics.load(shared, slot) === 1,
    stop: () => {
      if (stopped) return;
      stopped = true;
      worker.postMessage({ remove: path });
      // the slot is reused only after the thread has seen the removal: a late tick must not flag the next claim
      setTimeout(() => freeSlots.push(slot), 1000).unref();
    },
  };
}
