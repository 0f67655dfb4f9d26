import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspectClaim, removeAbandoned, tryClaim } from '../../src/claim/claim.ts';
import { currentHolder } from '../../src/claim/holder.ts';

const HOLDER = resolve('test/claim/holder-process.ts');
const dir = mkdtempSync(join(tmpdir(), 'pulse-claim-'));
const children: ChildProcess[] = [];

/** A holder process; resolves with it once it has printed its first line ("held" or "busy"). */
function holder(prefix: string, startMs: number, staleSeconds = 60): Promise<{ child: ChildProcess; first: string; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, prefix, String(startMs), String(staleSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines: string[] = [];
  return new Promise((done) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      lines.push(...d.split('\n').filter(Boolean));
      if (lines.length === 1) done({ child, first: lines[0]!, lines });
    });
  });
}

const exited = (child: ChildProcess) => new Promise((done) => (child.exitCode !== null || child.signalCode !== null ? done(null) : child.on('exit', done)));
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const generations = (name: string) => readdirSync(dir).filter((f) => f.startsWith(`${name}.`) && /^\d+$/.test(f.slice(name.length + 1))).sort();

test.after(() => { for (const c of children) c.kill('SIGKILL'); });

test('of six processes that try a free claim at the same instant, exactly one takes it', async () => {
  const prefix = join(dir, 'free');
  const start = Date.now() + 3000; // after every process has loaded
  const racers = await Promise.all(Array.from({ length: 6 }, () => holder(prefix, start)));
  assert.deepEqual(racers.map((r) => r.first).sort(), ['busy', 'busy', 'busy', 'busy', 'busy', 'held']);
  assert.deepEqual(generations('free'), ['free.0']);
  for (const r of racers) r.child.kill('SIGKILL');
});

test('a claim whose holder died is taken over, and of six processes taking it over at once exactly one does', async () => {
  const prefix = join(dir, 'dead');
  const first = await holder(prefix, 0);
  assert.equal(first.first, 'held');
  assert.equal(inspectClaim(prefix)!.gone, null, 'held by a live process');
  first.child.kill('SIGKILL');
  await exited(first.child);
  assert.match(inspectClaim(prefix)!.gone!, /its process \d+ on .* has ended/);
  const start = Date.now() + 3000;
  const racers = await Promise.all(Array.from({ length: 6 }, () => holder(prefix, start)));
  assert.deepEqual(racers.map((r) => r.first).sort(), ['busy', 'busy', 'busy', 'busy', 'busy', 'held']);
  assert.deepEqual(generations('dead'), ['dead.0', 'dead.1'], 'the new holder has the next generation; the dead one\'s file stays until it is released');
  for (const r of racers) r.child.kill('SIGKILL');
});

test('a heartbeat that stops is noticed: the claim is taken over, and the stopped holder finds out it lost it', async () => {
  const prefix = join(dir, 'stopped');
  const held = await holder(prefix, 0, 1.5);
  assert.equal(held.first, 'held');
  held.child.kill('SIGSTOP');
  assert.equal(tryClaim(prefix, { label: 'taker' }), null, 'a holder that was heard from a moment ago still holds');
  await sleep(2500);
  assert.match(inspectClaim(prefix)!.gone!, /no heartbeat for \d+ s \(more than 1.5 s\)/);
  const taken = tryClaim(prefix, { label: 'taker' });
  assert.ok(taken, 'taken over');
  held.child.kill('SIGCONT');
  for (let i = 0; i < 60 && !held.lines.includes('lost'); i++) await sleep(100);
  assert.ok(held.lines.includes('lost'), 'the old holder sees a newer generation at its next heartbeat');
  assert.equal(taken.lost(), false);
  held.child.kill('SIGKILL');
  taken.release();
  assert.deepEqual(generations('stopped'), [], 'releasing removes every generation');
});

test('a holder on another host is judged by its heartbeat alone', () => {
  const prefix = join(dir, 'remote');
  const remote = { ...currentHolder('elsewhere', { heartbeatSeconds: 10, staleAfterSeconds: 60 }), host: 'no-such-host', pid: 1 };
  writeFileSync(`${prefix}.0`, JSON.stringify(remote));
  assert.equal(inspectClaim(prefix)!.gone, null, 'touched just now');
  const old = (Date.now() - 61_000) / 1000;
  utimesSync(`${prefix}.0`, old, old);
  assert.match(inspectClaim(prefix)!.gone!, /no heartbeat for 6\d s/);
  const claim = tryClaim(prefix, { label: 'taker' })!;
  assert.equal(claim.holder.label, 'taker');
  assert.equal(removeAbandoned(prefix), false, 'a live claim is never swept');
  claim.release();
  assert.deepEqual(generations('remote'), []);
  writeFileSync(`${prefix}.0`, JSON.stringify(remote));
  utimesSync(`${prefix}.0`, old, old);
  assert.equal(removeAbandoned(prefix), true, 'the finish sweeps a claim its holder left behind');
  assert.deepEqual(generations('remote'), []);
});
