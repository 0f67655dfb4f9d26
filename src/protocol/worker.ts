import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryClaim } from '../claim/claim.ts';
import { PulseError } from '../errors.ts';
import type { Plan, Step } from './plan.ts';
import { claimPrefixOf, errorPath, readPrepared, readStepError, stepDone } from './records.ts';
import { runPrepare, runSelect, BLOCKED, type StepOutcome } from './prepare.ts';
import { runCell, ClaimLostError } from './cell.ts';
import { writeJsonAtomic } from './run-dir.ts';
import type { Claim } from '../claim/claim.ts';
import type { Session } from './session.ts';

export interface WorkOptions {
  /**
   * true: wait while other processes hold steps (taking over those whose holder is gone) until
   * every step is done; false: leave once every step left is held by another process (a Slurm
   * array task, which should not hold its allocation idle).
   */
  stay: boolean;
  /** the first step that fails ends the loop with its error (one process running the whole run) */
  stopOnError: boolean;
  pollMs: number;
}

/** Where a worker's time went: in steps, between them (scanning, claiming: the cost of scheduling), and waiting for other workers. */
export interface WorkTiming {
  steps: { key: string; started_at: string; seconds: number }[];
  step_seconds: number;
  scheduling_seconds: number;
  waiting_seconds: number;
}

export interface WorkOutcome {
  /** keys of the steps this process ran */
  ran: string[];
  timing: WorkTiming;
  /** steps that failed (here or in another process) and what they said: the run cannot finish until they run again */
  failed: { key: string; message: string }[];
  /** every step is done: the run can be finished */
  complete: boolean;
}

export type State = 'done' | 'failed' | 'waiting' | 'ready';

/** A step's state as the folder shows it; `done` holds the steps known done (they stay done). */
function classify(outDir: string, step: Step, done: Set<string>, states: Map<string, State>): State {
  if (done.has(step.key)) return 'done';
  if (step.kind === 'cell') {
    const before = states.get(step.prepare);
    if (before === 'failed') return 'failed';
    if (before !== 'done') return 'waiting';
    // a scenario that cannot run in this seed has no cells to run
    if (readPrepared(outDir, { kind: 'prepare', key: step.prepare, scenario: step.scenario, seed: step.seed, select: null })?.status === 'skipped') {
      done.add(step.key);
      return 'done';
    }
  }
  if (step.kind === 'prepare' && step.select) {
    const before = states.get(step.select);
    if (before === 'failed') return 'failed';
    if (before !== 'done') return 'waiting';
  }
  if (stepDone(outDir, step)) {
    done.add(step.key);
    return 'done';
  }
  return existsSync(errorPath(outDir, step)) ? 'failed' : 'ready';
}

/** Every step's state as the folder shows it now (`ready`: not done, and free to run as far as its prerequisites go). */
export function scanSteps(outDir: string, plan: Plan): Map<string, State> {
  const states = new Map<string, State>();
  const done = new Set<string>();
  for (const step of plan.steps) states.set(step.key, classify(outDir, step, done, states));
  return states;
}

/** The failed steps of a scan, with what each said. */
export function failures(outDir: string, plan: Plan, states: Map<string, State>): WorkOutcome['failed'] {
  return plan.steps.filter((s) => states.get(s.key) === 'failed')
    .map((s) => ({ key: s.key, message: readStepError(outDir, s)?.message ?? 'a step it needs failed' }));
}

function runStep(session: Session, step: Step, claim: Claim): Promise<StepOutcome> {
  switch (step.kind) {
    case 'select': return runSelect(session, step);
    case 'prepare': return runPrepare(session, step);
    case 'cell': return runCell(session, step, claim);
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Claims and runs the plan's steps until none is left for this process: in plan order, each step
 * once its prerequisites are done, skipping steps other processes hold and steps that wait for a
 * cache another process is building. Any number of processes, on any hosts sharing the run
 * folder, can do this at once: each step runs once, in one of them.
 */
export async function workSteps(session: Session, plan: Plan, options: WorkOptions): Promise<WorkOutcome> {
  const { outDir, log } = session;
  const done = new Set<string>();
  const ran: string[] = [];
  const began = performance.now();
  const timing: WorkTiming = { steps: [], step_seconds: 0, scheduling_seconds: 0, waiting_seconds: 0 };
  const end = (outcome: Omit<WorkOutcome, 'timing' | 'ran'>): WorkOutcome => {
    timing.scheduling_seconds = (performance.now() - began) / 1000 - timing.step_seconds - timing.waiting_seconds;
    return { ...outcome, ran, timing };
  };
  for (;;) {
    const states = new Map<string, State>();
    let progressed = false;
    let open = false; // a step this process may still run: ready, waiting for its prerequisites, or waiting for a cache
    for (const step of plan.steps) {
      const state = classify(outDir, step, done, states);
      states.set(step.key, state);
      if (state === 'waiting') open = true;
      if (state !== 'ready') continue;
      const claim = tryClaim(claimPrefixOf(outDir, step), { label: session.worker.label, liveness: session.worker.liveness });
      if (!claim) continue;
      let outcome: StepOutcome;
      try {
        // finished by another process between the look and the claim
        if (stepDone(outDir, step)) { states.set(step.key, 'done'); done.add(step.key); continue; }
        const t0 = performance.now();
        const started = new Date().toISOString();
        outcome = await runStep(session, step, claim);
        const seconds = (performance.now() - t0) / 1000;
        timing.step_seconds += seconds;
        if (outcome !== BLOCKED) timing.steps.push({ key: step.key, started_at: started, seconds });
      } catch (error) {
        if (error instanceof ClaimLostError) { log(`${error.message}; leaving it`); continue; }
        recordError(session, step, error);
        states.set(step.key, 'failed');
        if (options.stopOnError) throw error;
        // a PulseError is bad input, told in its message; anything else is a bug, whose stack the log keeps
        log(`${step.key} failed: ${error instanceof PulseError ? error.message : (error as Error)?.stack ?? String(error)}`);
        continue;
      } finally {
        claim.release();
      }
      if (outcome === BLOCKED) { open = true; continue; }
      done.add(step.key);
      ran.push(step.key);
      progressed = true;
      break; // look again from the start: earlier steps first
    }
    if (progressed) continue;
    if (plan.steps.every((s) => states.get(s.key) === 'done')) return end({ failed: [], complete: true });
    const held = plan.steps.some((s) => states.get(s.key) === 'ready');
    if (!open && !(held && options.stay)) return end({ failed: failures(outDir, plan, states), complete: false });
    const t0 = performance.now();
    await sleep(options.pollMs);
    timing.waiting_seconds += (performance.now() - t0) / 1000;
  }
}

function recordError(session: Session, step: Step, error: unknown): void {
  const message = error instanceof PulseError || !(error instanceof Error) ? String((error as Error)?.message ?? error) : `${error.name}: ${error.message}`;
  writeJsonAtomic(errorPath(session.outDir, step), { message, at: new Date().toISOString(), by: `${session.worker.label} on ${hostname()} (pid ${process.pid})` });
}

/** Clears the errors of earlier attempts: a new `pulse run` tries failed steps again. */
export function clearErrors(outDir: string, plan: Plan): number {
  let cleared = 0;
  for (const step of plan.steps) {
    const path = errorPath(outDir, step);
    if (existsSync(path)) { rmSync(path, { force: true }); cleared++; }
  }
  return cleared;
}

/** A worker's timing, kept in RUN/workers/ for bench:scale and for people wondering where the time went. */
export function writeJournal(session: Session, timing: WorkTiming): void {
  const name = `${session.worker.label.replace(/[^A-Za-z0-9_.-]/g, '_')}-${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}.json`;
  const who = { worker: session.worker.label, host: hostname(), pid: process.pid, device: session.worker.device };
  writeJsonAtomic(join(session.outDir, 'workers', name), { ...who, ...timing });
}
