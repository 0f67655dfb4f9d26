import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The CLI entry that worker processes run (`pulse worker RUN_DIR`). */
export const PULSE_BIN = fileURLToPath(new URL('../../bin/pulse.js', import.meta.url));

export interface LocalWorkers {
  runDir: string;
  workers: number;
  /** one worker per device when given (the list's length is the number of workers) */
  devices?: readonly string[];
  /** libtorch threads per worker; default cores / workers (at least 1) */
  threads?: number | null;
  log: (line: string) => void;
}

export interface WorkerExit { label: string; code: number | null; signal: NodeJS.Signals | null }

/** Threads per worker when the config does not say: the cores shared out, at least one each. */
export function threadsPerWorker(workers: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / workers));
}

/**
 * Starts `pulse worker RUN_DIR` processes on this machine and waits for all of them. Their output
 * is passed on line by line, each line marked with its worker. Ctrl-C (or SIGTERM) is passed on to
 * them; a worker that dies leaves its step to the others, which take it over.
 */
export async function runLocalWorkers(options: LocalWorkers): Promise<WorkerExit[]> {
  const count = options.devices?.length ?? options.workers;
  const threads = options.threads ?? threadsPerWorker(count);
  const children: ChildProcess[] = [];
  const exits = Array.from({ length: count }, (_, i) => {
    const label = `worker ${i + 1}`;
    const device = options.devices?.[i];
    const args = [PULSE_BIN, 'worker', options.runDir, '--label', label, '--threads', String(threads), ...(device ? ['--device', device] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    options.log(`${label}: pid ${child.pid}, ${threads} thread${threads > 1 ? 's' : ''}${device ? ` on ${device}` : ''}`);
    children.push(child);
    createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[${label}] ${line}\n`));
    return new Promise<WorkerExit>((done) => child.on('exit', (code, signal) => done({ label, code, signal })));
  });
  const forward = (signal: NodeJS.Signals) => () => { for (const c of children) c.kill(signal); };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await Promise.all(exits);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
