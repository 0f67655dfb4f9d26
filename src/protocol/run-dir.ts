import { existsSync, mkdirSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { PulseError } from '../errors.ts';

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomicSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PulseError(`${path} is corrupted (${(e as Error).message}); delete the run folder or run with another --out`);
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * One process at a time per run folder: a second `pulse run` on the same folder would interleave
 * writes. A lock left by a killed process (its pid is gone) is taken over.
 */
export function lockRunDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, '.lock');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) throw new PulseError(`run folder ${dir} is in use by process ${pid}`);
  }
  writeFileSync(lock, String(process.pid));
  return () => { try { unlinkSync(lock); } catch { /* already gone */ } };
}
