import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/atomic-file.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'pulse-atomic-'));

test('concurrent atomic writes of one path leave one complete version and no temp files', async () => {
  const dir = fresh();
  const target = join(dir, 'results.json');
  const versions = Array.from({ length: 20 }, (_, i) => JSON.stringify({ version: i, pad: 'x'.repeat(10_000 + i) }));
  await Promise.all(versions.map((v) => writeFileAtomic(target, v)));
  assert.ok(versions.includes(readFileSync(target, 'utf8')));
  assert.deepEqual(readdirSync(dir), ['results.json']);
});

test('a failed atomic write keeps the old file and removes its temp file', async () => {
  const dir = fresh();
  const target = join(dir, 'state.json');
  writeFileAtomicSync(target, 'old');
  mkdirSync(join(dir, 'blocked'));
  // Renaming a file over a folder fails after the temp file was written.
  await assert.rejects(writeFileAtomic(join(dir, 'blocked'), 'new'));
  assert.throws(() => writeFileAtomicSync(join(dir, 'blocked'), 'new'));
  assert.equal(readFileSync(target, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'state.json']);
});

test('writes create missing folders and replace content', async () => {
  const dir = fresh();
  const target = join(dir, 'a', 'b', 'file.bin');
  await writeFileAtomic(target, new Uint8Array([1, 2, 3]));
  writeFileAtomicSync(target, new Uint8Array([4, 5]));
  assert.deepEqual([...readFileSync(target)], [4, 5]);
});
