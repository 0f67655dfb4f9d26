import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { protocolFixture } from '../protocol/fixture.ts';

/**
 * Bad input, tried as a new user would: each case ends in exactly one line
 * `pulse: <what>: <why>` on stderr (no stack trace), exit status 2, and leaves no run folder or
 * partial file behind.
 */
const PULSE = resolve('bin/pulse.js');
const fixture = await protocolFixture();
const file = (name: string, content: string | Uint8Array) => { const p = join(fixture.dir, name); writeFileSync(p, content); return p; };
const pulse = (...args: string[]) => {
  const r = spawnSync(process.execPath, [PULSE, ...args], { cwd: fixture.dir, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const quick = (out: string, ...more: string[]) => ['run', '--preset', 'quick', '--config', fixture.config, '--out', out, '--no-report', ...more];

/** Runs pulse and checks the one-line refusal; `out` must not exist afterwards. */
function refused(args: string[], message: RegExp, out?: string): void {
  const r = pulse(...args);
  const errors = r.stderr.split('\n').filter((l) => l && !l.startsWith('[pulse] '));
  assert.equal(r.code, 2, `exit status of pulse ${args.join(' ')}: ${r.stderr}`);
  assert.equal(errors.length, 1, `one line, no stack trace:\n${r.stderr}`);
  assert.match(errors[0]!, /^pulse: /);
  assert.match(errors[0]!, message);
  if (out) assert.ok(!existsSync(join(fixture.dir, out)), `${out} was created`);
}

const validBase = readFileSync(fixture.base);

test('a truncated model file given to pulse eval', () => {
  const truncated = file('truncated.safetensors', validBase.subarray(0, Math.floor(validBase.length / 2)));
  refused(['eval', '--model', truncated, '--world-dir', join(fixture.dir, 'world')], /truncated\.safetensors: not a valid safetensors file/);
});

test('a file that is not Parquet given to pulse data inspect', () => {
  refused(['data', 'inspect', file('junk.parquet', 'this is not a parquet file, just some text long enough')], /junk\.parquet: not a Parquet file/);
});

test('a misspelt hyperparameter, and an unknown method in method_settings', () => {
  const betta = file('betta.yaml', 'method_settings:\n  npo:\n    hyperparameters:\n      betta: 0.5\n');
  refused(['run', '--config', betta, '--out', 'runs/betta'], /method_settings\.npo\.hyperparameters\.betta: unknown hyperparameter 'betta' \(known: beta\)/, 'runs/betta');
  const sgd = file('sgd.yaml', 'method_settings:\n  sgd:\n    lr: 0.1\n');
  refused(['run', '--config', sgd, '--out', 'runs/sgd'], /method_settings\.sgd: unknown unlearning method 'sgd' \(known: ga, ga_klr, npo, [a-z0-9_, ]+\)/, 'runs/sgd');
});

test('a model file that does not exist leaves no run folder behind', () => {
  refused(quick('runs/nomodel', '--config', file('nomodel.yaml', `model:\n  path: ${join(fixture.dir, 'nope.safetensors')}\n`)), /nope\.safetensors does not exist/, 'runs/nomodel');
});

test('bad configs: YAML, keys, values, model kinds, scenarios', () => {
  refused(['run', '--config', file('yaml.yaml', 'seed: [1\n'), '--out', 'runs/c1'], /is not valid YAML/, 'runs/c1');
  refused(['run', '--config', file('key.yaml', 'unlern:\n  lr: 1\n'), '--out', 'runs/c2'], /unknown key 'unlern'/, 'runs/c2');
  refused(['run', '--config', file('value.yaml', 'unlearn:\n  lr: -1\n'), '--out', 'runs/c3'], /unlearn\.lr: /, 'runs/c3');
  refused(['run', '--config', file('kind.yaml', 'model:\n  kind: gpt\n'), '--out', 'runs/c4'], /model\.kind: unknown model kind "gpt" \(kinds: embedded, llava, qwen2_vl, qwen2_5_vl\)/, 'runs/c4');
  refused(['run', '--config', file('mkey.yaml', 'model:\n  paht: x\n'), '--out', 'runs/c5'], /unknown key 'model\.paht'/, 'runs/c5');
  refused(['run', '--config', file('scen.yaml', 'scenarios: [fine_tuned, everything]\n'), '--out', 'runs/c6'], /scenarios\.1: unknown scenario 'everything'/, 'runs/c6');
  refused(['run', '--config', join(fixture.dir, 'missing.yaml'), '--out', 'runs/c7'], /cannot read config .*missing\.yaml/, 'runs/c7');
});

test('bad command-line values', () => {
  refused(['run', '--threads', '0', '--out', 'runs/t0'], /--threads/, 'runs/t0');
  refused(['run', '--scenarios', 'fine_tuned,everything', '--out', 'runs/s'], /unknown value 'everything'/, 'runs/s');
  refused(['run', '--bogus'], /unknown option '--bogus'/);
  refused(['eval', '--model', fixture.base, '--set', 'everything', '--world-dir', join(fixture.dir, 'world')], /unknown set 'everything'/);
});

test('missing or broken data paths', () => {
  refused(['eval', '--model', fixture.base, '--set', join(fixture.dir, 'none.tsv'), '--world-dir', join(fixture.dir, 'world')], /none\.tsv: cannot read/);
  refused(['data', 'inspect', join(fixture.dir, 'nowhere')], /nowhere does not exist/);
  const notWorld = join(fixture.dir, 'not-a-world');
  mkdirSync(notWorld, { recursive: true });
  writeFileSync(join(notWorld, 'notes.txt'), 'mine');
  const otherWorld = file('w.yaml', stringify({ ...parse(readFileSync(fixture.config, 'utf8')), world: { seed: 0, dir: notWorld } }));
  refused(['run', '--preset', 'quick', '--config', otherWorld, '--out', 'runs/w'], /not-a-world is not empty and holds no pulse world/, 'runs/w');
  refused(['report', join(fixture.dir, 'no-run-here')], /no-run-here\/results\.json/);
  refused(quick(file('a-file', 'x')), /a-file is a file, not a run folder/);
});

test('a finished run is a no-op that says so and leaves every file byte for byte as it was', () => {
  const out = join(fixture.dir, 'runs', 'finished');
  const first = pulse(...quick(out, '--scenarios', 'pre_trained', '--methods', 'ga'));
  assert.equal(first.code, 0, first.stderr);
  const snapshot = () => Object.fromEntries(readdirSync(out, { recursive: true }).map(String).sort().map((f) => {
    const p = join(out, f);
    return [f, statSync(p).isFile() ? `${statSync(p).mtimeMs} ${readFileSync(p, 'base64')}` : 'dir'];
  }));
  const before = snapshot();
  const again = pulse(...quick(out, '--scenarios', 'pre_trained', '--methods', 'ga'));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /this run finished at .*; nothing to do/);
  assert.deepEqual(snapshot(), before);
});
