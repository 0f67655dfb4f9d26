import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  OTHER_HOST_TEMP_AGE_MS, WriteError, ensureFolder, injectFaults, ioCounts, sweepTempFiles, tempHolder, tempPathFor, writeFileAtomic, writeFileAtomicSync,
} from '../../src/atomic-file.ts';

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

test('a temp file names its holder; a sweep removes those of dead processes and keeps live ones', () => {
  const dir = fresh();
  mkdirSync(join(dir, 'samples'));
  const mine = tempPathFor(join(dir, 'results.json'));
  assert.deepEqual(tempHolder(mine.split('/').pop()!), { host: hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 64), pid: process.pid });
  // a process that has exited: its pid is free (until reused, which a sweep then reads as alive and keeps)
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const host = tempHolder(mine.split('/').pop()!)!.host;
  const leftovers = [join(dir, `results.json.~pulse~${host}~${dead}~0badc0de.tmp`), join(dir, 'samples', `s0.parquet.~pulse~${host}~${dead}~12345678.tmp`)];
  for (const f of [mine, ...leftovers]) writeFileSync(f, '');
  mkdirSync(join(dir, `world.~pulse~${host}~${dead}~abcdef01.tmp`));
  writeFileSync(join(dir, 'notes.tmp'), 'not ours');
  const removed = sweepTempFiles(dir);
  assert.deepEqual(removed.sort(), [...leftovers, join(dir, `world.~pulse~${host}~${dead}~abcdef01.tmp`)].sort());
  assert.deepEqual(readdirSync(dir).sort(), ['notes.tmp', 'samples', mine.split('/').pop()!].sort());
  // another host's temp file goes only once it is older than any write could take
  const other = join(dir, `x.~pulse~elsewhere~1~00000000.tmp`);
  writeFileSync(other, '');
  assert.deepEqual(sweepTempFiles(dir), []);
  const old = (Date.now() - OTHER_HOST_TEMP_AGE_MS - 60_000) / 1000;
  utimesSync(other, old, old);
  assert.deepEqual(sweepTempFiles(dir), [other]);
});

test('the first write into a folder sweeps the temp files a killed writer left there', () => {
  const dir = fresh();
  const host = tempHolder(tempPathFor(join(dir, 'x')).split('/').pop()!)!.host;
  const leftover = join(dir, `results.json.~pulse~${host}~999999999~0badc0de.tmp`);
  writeFileSync(leftover, '');
  writeFileAtomicSync(join(dir, 'results.json'), '{}');
  assert.deepEqual(readdirSync(dir), ['results.json']);
});

test('an injected ENOSPC, EIO or EACCES is one WriteError naming the file; the old file stays whole and no temp file is left', () => {
  const dir = fresh();
  const target = join(dir, 'results.json');
  writeFileAtomicSync(target, 'old');
  try {
    for (const [spec, pattern] of [
      ['write:1:ENOSPC', /^cannot write .*results\.json: no space left on the device: 16 bytes needed, .* free$/],
      ['fsync:1:EIO', /^cannot write .*results\.json: input\/output error/],
      ['rename:1:EACCES', /^cannot write .*results\.json: permission denied$/],
      ['any:3:EROFS', /^cannot write .*results\.json: the filesystem is read-only$/],
    ] as const) {
      injectFaults(spec);
      assert.throws(() => writeFileAtomicSync(target, 'new content 1234'), (e: unknown) => e instanceof WriteError && pattern.test(e.message), spec);
      assert.equal(readFileSync(target, 'utf8'), 'old', spec);
      assert.deepEqual(readdirSync(dir), ['results.json'], spec);
    }
    injectFaults('write:2:ENOSPC');
    writeFileAtomicSync(target, 'first');
    assert.equal(ioCounts().write, 1);
    assert.throws(() => writeFileAtomicSync(target, 'second'), WriteError);
    assert.equal(readFileSync(target, 'utf8'), 'first');
    assert.throws(() => injectFaults('write:0:ENOSPC'), /PULSE_FAULT: 'write:0:ENOSPC' is not/);
  } finally {
    injectFaults(null);
  }
});

test('a kill between the temp file and the rename leaves the old file, and a complete temp file that a sweep removes', () => {
  const dir = fresh();
  const target = join(dir, 'state.json');
  writeFileAtomicSync(target, 'old');
  const script = `import { writeFileAtomicSync } from ${JSON.stringify(resolve('src/atomic-file.ts'))}; writeFileAtomicSync(${JSON.stringify(target)}, 'new');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, PULSE_FAULT: 'rename:1:KILL' } });
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(readFileSync(target, 'utf8'), 'old');
  const left = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
  assert.equal(left.length, 1);
  assert.equal(readFileSync(join(dir, left[0]!), 'utf8'), 'new', 'the temp file was complete: only the rename was missing');
  // this process swept the folder at its first write, before the kill: the next process (or a run start) sweeps again
  assert.deepEqual(sweepTempFiles(dir), [join(dir, left[0]!)]);
  assert.deepEqual(readdirSync(dir), ['state.json']);
});

test('folders are made one level at a time: a virtual filesystem or a file in the way is a WriteError at once', () => {
  const dir = fresh();
  ensureFolder(join(dir, 'a', 'b', 'c'));
  assert.ok(statSync(join(dir, 'a', 'b', 'c')).isDirectory());
  writeFileSync(join(dir, 'file'), 'x');
  assert.throws(() => ensureFolder(join(dir, 'file', 'sub')), /is a file, not a folder/);
  const started = performance.now();
  assert.throws(() => writeFileAtomicSync('/proc/pulse-test/x.json', '{}'), (e: unknown) => e instanceof WriteError && /^cannot write \/proc\/pulse-test: /.test(e.message));
  assert.ok(performance.now() - started < 1000);
});
