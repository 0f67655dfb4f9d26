import { mkdirSync, openSync, writeFileSync, fsyncSync, closeSync, renameSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/*
 * Writes a file so that a reader, or a run resumed after a crash, sees either the old content or
 * the new one, never half: a temp file in the same folder, fsync, rename over the target, then
 * fsync the folder so the rename itself survives a power loss. The temp name is unique per call,
 * so two writes of the same path (even in one process) never share a temp file, and a failed
 * write removes its temp file.
 */

const tempName = (path: string) => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

export async function writeFileAtomic(path: string, content: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempName(path);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncFolder(dirname(path));
}

export function writeFileAtomicSync(path: string, content: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempName(path);
  try {
    const fd = openSync(temp, 'wx');
    try {
      writeFileSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try { unlinkSync(temp); } catch { /* never created, or already renamed */ }
    throw error;
  }
  syncFolderSync(dirname(path));
}

// Some filesystems refuse fsync on a folder; the rename is still atomic there, so that is no error.
function syncFolderSync(folder: string): void {
  try {
    const fd = openSync(folder, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* see above */ }
}

async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try { await handle.sync(); } finally { await handle.close(); }
  } catch { /* as in syncFolderSync */ }
}
