import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PulseError, excerpt } from './errors.ts';

/*
 * The write layer: every file pulse writes goes through here. A file is written so that a reader, or
 * a run resumed after a crash, sees either the old content or the new one, never half: a temp file in
 * the same folder, fsync, rename over the target, then fsync the folder so that the rename itself
 * survives a power loss. A failed write removes its temp file and becomes one PulseError naming the
 * file (a full disk says how many bytes it needed and how many were free).
 *
 * Temp files carry their holder in their name (`<name>.~pulse~<host>~<pid>~<random>.tmp`), so a later
 * process can tell a live writer's temp file from one a killed process left behind: the first write
 * into a folder in a process sweeps that folder (sweepTempFiles does a whole run folder).
 *
 * Fault injection, as SQLite tests its I/O errors: PULSE_FAULT="<op>:<n>:<effect>" (comma-separated
 * for several) makes the n-th `write`, `fsync` or `rename` of the process (or the n-th I/O operation of
 * any kind, `any`) fail with an errno (ENOSPC, EIO, EACCES, EROFS, ...) or kill the process (`KILL`):
 * a failing write stops half way through the temp file, a kill at a rename leaves a complete temp
 * file that was never renamed. PULSE_FAULT=count prints how many operations of each kind the process
 * did when it exits, so that a campaign knows how far to walk; PULSE_FAULT=trace also prints each
 * operation and its file as it happens.
 */

export type IoOperation = 'write' | 'fsync' | 'rename';
const OPERATIONS: readonly IoOperation[] = ['write', 'fsync', 'rename'];

const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 64) || 'host';
const TEMP_NAME = /^(.*)\.~pulse~([A-Za-z0-9._-]+)~(\d+)~([0-9a-f]+)\.tmp$/;
/** A temp file of another machine (a shared filesystem) is taken as abandoned after this long: no write takes hours. */
export const OTHER_HOST_TEMP_AGE_MS = 6 * 3600 * 1000;

/** The temp name of a write of `path` by this process: beside it, so that the rename stays within one filesystem. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${basename(path).slice(0, 120)}.~pulse~${HOST}~${process.pid}~${randomBytes(4).toString('hex')}.tmp`);
}

/** The holder of a temp file or folder pulse made, from its name; null for any other name. */
export function tempHolder(name: string): { host: string; pid: number } | null {
  const m = TEMP_NAME.exec(name);
  return m ? { host: m[2]!, pid: Number(m[3]) } : null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderGone(holder: { host: string; pid: number }, mtimeMs: number): boolean {
  if (holder.host !== HOST) return Date.now() - mtimeMs > OTHER_HOST_TEMP_AGE_MS;
  return holder.pid !== process.pid && !processAlive(holder.pid);
}

/**
 * Removes the temp files (and temp folders) in `folder` whose holder is gone: on this host, a process
 * that no longer runs; on another host, older than OTHER_HOST_TEMP_AGE_MS. With `recursive` (the
 * default) it descends into subfolders, never following links. Returns what it removed; what it cannot
 * remove it leaves (the next sweep tries again).
 */
export function sweepTempFiles(folder: string, options: { recursive?: boolean } = {}): string[] {
  const removed: string[] = [];
  const visit = (dir: string, depth: number) => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const holder = tempHolder(entry.name);
      if (holder && (entry.isFile() || entry.isDirectory())) {
        try {
          if (holderGone(holder, statSync(path).mtimeMs)) {
            rmSync(path, { recursive: true, force: true });
            removed.push(path);
          }
        } catch { /* gone already, or not ours to remove */ }
      } else if (entry.isDirectory() && options.recursive !== false && depth < 8) visit(path, depth + 1);
    }
  };
  visit(folder, 0);
  return removed;
}

/** Folders this process has written into, and so swept once (see sweepTempFiles). */
const swept = new Set<string>();

// --- fault injection ---

interface Fault { op: IoOperation | 'any'; at: number; effect: string }

const counts: Record<IoOperation, number> = { write: 0, fsync: 0, rename: 0 };
let operations = 0;
let faults: Fault[] = [];

/** Sets the faults to inject (a PULSE_FAULT value, or null for none) and restarts the counts: for tests in one process. */
export function injectFaults(spec: string | null): void {
  faults = spec && spec !== 'count' && spec !== 'trace' ? parseFaults(spec) : [];
  trace = spec === 'trace';
  for (const op of OPERATIONS) counts[op] = 0;
  operations = 0;
}

/** How many operations of each kind this process did (since the last injectFaults). */
export function ioCounts(): Record<IoOperation | 'any', number> {
  return { ...counts, any: operations };
}

function parseFaults(spec: string): Fault[] {
  return spec.split(',').map((part) => {
    const [op, at, effect] = part.trim().split(':');
    const n = Number(at);
    if (!(op === 'any' || OPERATIONS.includes(op as IoOperation)) || !Number.isInteger(n) || n < 1 || !effect || !/^(E[A-Z]+|KILL)$/.test(effect)) {
      throw new PulseError(`PULSE_FAULT: '${excerpt(part, 60)}' is not <write|fsync|rename|any>:<n >= 1>:<ENOSPC|EIO|EACCES|...|KILL>`);
    }
    return { op: op as Fault['op'], at: n, effect };
  });
}

let trace = false;

/** Counts an operation on `path`; the effect planned for it, if any (a fault that kills does not return). */
function checkpoint(op: IoOperation, path: string): string | null {
  counts[op] += 1;
  operations += 1;
  if (trace) process.stderr.write(`[pulse] io ${op} ${counts[op]} ${path}\n`);
  const hit = faults.find((f) => (f.op === 'any' ? f.at === operations : f.op === op && f.at === counts[op]));
  return hit?.effect ?? null;
}

function injected(code: string, op: IoOperation, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fault injected by PULSE_FAULT, ${op} '${path}'`), { code, syscall: op, path });
}

const kill = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
};

if (process.env.PULSE_FAULT) {
  injectFaults(process.env.PULSE_FAULT);
  if (process.env.PULSE_FAULT === 'count' || process.env.PULSE_FAULT === 'trace') {
    process.on('exit', () => process.stderr.write(`[pulse] io operations: ${OPERATIONS.map((op) => `${op} ${counts[op]}`).join(', ')}\n`));
  }
}

// --- errors ---

/** A write the system refused: one line naming the file and the reason in words. */
export class WriteError extends PulseError {
  override name = 'WriteError';
  constructor(message: string, readonly code: string, readonly path: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const REASONS: Record<string, string> = {
  EDQUOT: 'the disk quota is exceeded',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted here',
  EIO: 'input/output error (a failing disk or network filesystem)',
  ENOENT: 'the folder does not exist or cannot hold files',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'a folder of that name is in the way',
  ENAMETOOLONG: 'the name is too long for the filesystem',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on the system',
  EFBIG: 'the file is larger than the filesystem allows',
};

const mib = (bytes: number) => (bytes < 1 << 20 ? `${bytes} bytes` : `${(bytes / (1 << 20)).toFixed(1)} MiB`);

function freeBytes(folder: string): number | null {
  try {
    const s = statfsSync(folder);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** A system error of a write as a WriteError; anything else (a bug) as it is. */
export function writeFailure(error: unknown, path: string, bytes?: number): Error {
  if (error instanceof PulseError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return error as Error;
  let reason = REASONS[code] ?? `${code} (${excerpt((error as Error).message, 120)})`;
  if (code === 'ENOSPC') {
    const free = freeBytes(dirname(path));
    reason = `no space left on the device${bytes === undefined ? '' : `: ${mib(bytes)} needed`}${free === null ? '' : `, ${mib(free)} free`}`;
  }
  return new WriteError(`cannot write ${path}: ${reason}`, code, path, { cause: error });
}

// --- folders ---

/**
 * Creates a folder and its missing parents one level at a time (Node's recursive mkdir loops forever
 * on a virtual filesystem such as /proc). A part of the path that is a file, or a folder that cannot
 * be made, is a WriteError naming it.
 */
export function ensureFolder(folder: string): void {
  const missing: string[] = [];
  for (let current = resolve(folder); ; current = dirname(current)) {
    let isFolder: boolean;
    try {
      isFolder = statSync(current).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(current) === current) throw writeFailure(e, current);
      missing.push(current);
      continue;
    }
    if (!isFolder) throw new WriteError(`cannot create ${folder}: ${current} is a file, not a folder`, 'ENOTDIR', current);
    break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(e, dir);
    }
  }
}

// --- writes ---

function writeAll(fd: number, bytes: Uint8Array, upTo = bytes.length): void {
  for (let done = 0; done < upTo;) done += writeSync(fd, bytes, done, upTo - done);
}

/** Writes `path` atomically (see above); a failure is a WriteError and leaves the old file, if any, as it was. */
export function writeFileAtomicSync(path: string, content: Uint8Array | string): void {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const folder = dirname(path);
  ensureFolder(folder);
  if (!swept.has(folder)) {
    swept.add(folder);
    sweepTempFiles(folder, { recursive: false });
  }
  const temp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx');
    const onWrite = checkpoint('write', path);
    if (onWrite) {
      writeAll(fd, bytes, bytes.length >> 1); // a write that fails or is killed half way through
      if (onWrite === 'KILL') kill();
      throw injected(onWrite, 'write', temp);
    }
    writeAll(fd, bytes);
    const onSync = checkpoint('fsync', path);
    if (onSync === 'KILL') kill();
    if (onSync) throw injected(onSync, 'fsync', temp);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    const onRename = checkpoint('rename', path);
    if (onRename === 'KILL') kill();
    if (onRename) throw injected(onRename, 'rename', temp);
    renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(temp); } catch { /* never created, or already renamed */ }
    throw writeFailure(error, path, bytes.length);
  }
  syncFolder(folder);
}

/**
 * writeFileAtomicSync behind a promise. The work is synchronous: pulse writes one file at a time
 * (results, a checkpoint, a samples part), and one code path means one behaviour under faults.
 */
export async function writeFileAtomic(path: string, content: Uint8Array | string): Promise<void> {
  writeFileAtomicSync(path, content);
}

// Some filesystems refuse fsync on a folder; the rename is still atomic there, so that is no error.
function syncFolder(folder: string): void {
  try {
    const fd = openSync(folder, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* see above */ }
}
