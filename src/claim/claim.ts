import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { currentHolder, describeHolder, holderGone, Holder, DEFAULT_LIVENESS, type Liveness } from './holder.ts';
import { heartbeat, type Beat } from './heartbeat.ts';

/*
 * One exclusive claim on a name, for processes on one host or on many hosts sharing a folder
 * (the run lock, each step of a run, each cache entry being built).
 *
 * A claim at PREFIX is the file PREFIX.G of the highest generation G present. Taking a free
 * claim creates PREFIX.0; taking over an abandoned one (holderGone) creates PREFIX.(G+1). Each
 * file appears whole and at most once, by link(2) of a fully written file, which fails if the name
 * exists (as O_EXCL does, and also on NFS): of two processes racing for the same generation exactly
 * one wins, so taking over needs no second lock and no claim is ever deleted by anyone but its
 * holder. A holder touches its file (the heartbeat, in a thread of its own) and finds out when a
 * newer generation appears: it lost the claim and must stop writing. Releasing removes every
 * generation, its own last, so that the highest present is always a live holder's.
 */

export interface ClaimOptions {
  /** who holds it, in people's words: "pulse run", "worker 2 (cuda:1)" */
  label: string;
  liveness?: Liveness;
}

export interface Claim {
  readonly prefix: string;
  readonly holder: Holder;
  /** another process took the claim over (it judged this one abandoned) or its file was removed */
  lost(): boolean;
  release(): void;
}

/** What is known about a claim's current holder, for status and for deciding to take it over. */
export interface ClaimState {
  holder: Holder | null;
  /** when the holder last touched the claim (ms since the epoch) */
  touchedMs: number;
  /** why the holder is gone (the claim may be taken over), or null while it holds */
  gone: string | null;
  generation: number;
}

function generations(prefix: string): number[] {
  const stem = `${basename(prefix)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(prefix));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => n.startsWith(stem) && /^\d+$/.test(n.slice(stem.length))).map((n) => Number(n.slice(stem.length))).sort((a, b) => a - b);
}

function readHolder(path: string): { holder: Holder | null; touchedMs: number } | null {
  try {
    const touchedMs = statSync(path).mtimeMs;
    const parsed = Holder.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return { holder: parsed.success ? parsed.data : null, touchedMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof SyntaxError) return { holder: null, touchedMs: statSync(path).mtimeMs };
    throw e;
  }
}

/** The claim's current state, or null when nobody holds it. */
export function inspectClaim(prefix: string, nowMs = Date.now()): ClaimState | null {
  for (let attempt = 0; attempt < 5; attempt++) {
    const top = generations(prefix).at(-1);
    if (top === undefined) return null;
    const read = readHolder(`${prefix}.${top}`);
    if (!read) continue; // released between the listing and the read
    // a file that is not a holder record (written by something else) counts as abandoned once it is old
    const gone = read.holder ? holderGone(read.holder, read.touchedMs, nowMs)
      : nowMs - read.touchedMs > DEFAULT_LIVENESS.staleAfterSeconds * 1000 ? 'its claim file is not readable' : null;
    return { ...read, gone, generation: top };
  }
  return null;
}

/**
 * Takes the claim if it is free or abandoned; null if a live holder has it. The caller must
 * release() it (also on failure) and should check lost() before each write it makes as holder.
 */
export function tryClaim(prefix: string, options: ClaimOptions): Claim | null {
  const liveness = options.liveness ?? DEFAULT_LIVENESS;
  mkdirSync(dirname(prefix), { recursive: true });
  for (let attempt = 0; attempt < 8; attempt++) {
    const state = inspectClaim(prefix);
    if (state && !state.gone) return null;
    const generation = state ? state.generation + 1 : 0;
    const holder = currentHolder(options.label, liveness);
    const staged = `${prefix}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileAtomicSync(staged, `${JSON.stringify(holder)}\n`);
    const path = `${prefix}.${generation}`;
    try {
      linkSync(staged, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      continue; // another process took this generation first: look again
    } finally {
      unlinkSync(staged);
    }
    // A process that read an older listing may have recreated a released generation below a newer one.
    if ((generations(prefix).at(-1) ?? generation) > generation) {
      unlinkSync(path);
      continue;
    }
    return holding(prefix, generation, holder, liveness);
  }
  return null;
}

function holding(prefix: string, generation: number, holder: Holder, liveness: Liveness): Claim {
  const path = `${prefix}.${generation}`;
  const beat: Beat = heartbeat(path, prefix, generation, liveness.heartbeatSeconds);
  let released = false;
  return {
    prefix,
    holder,
    lost: () => beat.lost(),
    release() {
      if (released) return;
      released = true;
      beat.stop();
      if (beat.lost()) {
        removeQuietly(path);
        return;
      }
      for (const g of generations(prefix)) if (g < generation) removeQuietly(`${prefix}.${g}`);
      removeQuietly(path);
    },
  };
}

function removeQuietly(path: string): void {
  try { unlinkSync(path); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Takes the claim, waiting while a live holder has it (polling every `pollMs`; `onWait` is told
 * once whom it waits for).
 */
export async function waitClaim(prefix: string, options: ClaimOptions & { pollMs?: number; onWait?: (holder: string) => void }): Promise<Claim> {
  let told = false;
  for (;;) {
    const claim = tryClaim(prefix, options);
    if (claim) return claim;
    if (!told && options.onWait) {
      const state = inspectClaim(prefix);
      if (state?.holder) { options.onWait(describeHolder(state.holder)); told = true; }
    }
    await sleep(options.pollMs ?? 500);
  }
}

/** Runs fn holding the claim (waiting for it), and releases it however fn ends. */
export async function withClaim<T>(prefix: string, options: ClaimOptions & { pollMs?: number; onWait?: (holder: string) => void },
  fn: (claim: Claim) => Promise<T> | T): Promise<T> {
  const claim = await waitClaim(prefix, options);
  try {
    return await fn(claim);
  } finally {
    claim.release();
  }
}

/**
 * Removes a claim left by a holder that is gone (killed after its work was recorded, before it
 * released): the files of its generation and those below it. A newer, live generation stays.
 */
export function removeAbandoned(prefix: string): boolean {
  const state = inspectClaim(prefix);
  if (!state?.gone) return false;
  for (const g of generations(prefix)) if (g <= state.generation) removeQuietly(`${prefix}.${g}`);
  return true;
}
