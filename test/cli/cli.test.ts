import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { protocolFixture } from '../protocol/fixture.ts';
import { completeResults, writeRun } from '../report/fixtures.ts';
import { METHODS } from '../../src/unlearn/registry.ts';
import { ATTACKS } from '../../src/attacks/registry.ts';

const PULSE = resolve('bin/pulse.js');
const fixture = await protocolFixture();
const pulse = (...args: string[]) => {
  const r = spawnSync(process.execPath, [PULSE, ...args], { cwd: fixture.dir, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('every command has help text', () => {
  const top = pulse('--help');
  assert.equal(top.code, 0);
  for (const command of ['run', 'pretrain', 'eval', 'ask', 'report', 'data']) {
    assert.match(top.stdout, new RegExp(`\\n  ${command} `));
    const help = pulse(command, '--help');
    assert.equal(help.code, 0, command);
    assert.match(help.stdout, /Usage: pulse /);
  }
  assert.match(pulse('data', 'generate', '--help').stdout, /--seed <n>/);
});

test("pulse run --help names every built-in method and attack (it does not load the registries, so it can drift)", () => {
  const help = pulse('run', '--help').stdout.replace(/\s+/g, ' ');
  for (const name of [...METHODS.keys(), ...ATTACKS.keys()]) assert.match(help, new RegExp(`[(, ]${name}[,)]`), name);
});

test('pulse data generate writes the world, and inspect summarises it', () => {
  const out = join(fixture.dir, 'generated');
  const generated = pulse('data', 'generate', '--out', out, '--seed', '0');
  assert.equal(generated.code, 0, generated.stderr);
  assert.ok(existsSync(join(out, 'manifest.json')));
  const inspected = pulse('data', 'inspect', out);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, /Full_Set \(fictitious\): 500 people, 500 images, 2500 multimodal \+ 2500 text-only questions/);
  assert.match(inspected.stdout, /Retain_Set \(celebrities\): 153 people/);
  assert.match(inspected.stdout, /MMBench: 400 multimodal questions/);
  const file = pulse('data', 'inspect', join(out, 'MMBench', 'mmbench_dev_en.tsv'));
  assert.match(file.stdout, /400 multimodal questions/);
  const missing = pulse('data', 'inspect', join(out, 'nope.parquet'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^pulse: .*nope\.parquet does not exist/);
});

test('pulse eval --json prints accuracy by set and modality, for named sets and data files', () => {
  const world = join(fixture.dir, 'world');
  const tsv = join(fixture.dir, 'generated', 'MMBench', 'mmbench_dev_en.tsv');
  const r = pulse('eval', '--model', fixture.base, '--set', `general,celebrities,${tsv}`, '--mode', 'likelihood', '--json', '--world-dir', world, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out), ['general', 'celebrities', tsv]);
  assert.equal(out.general.n, 400);
  assert.equal(out.general.text_only, null);
  assert.equal(out.celebrities.n, 1530);
  assert.ok(out.celebrities.multimodal >= 0 && out.celebrities.text_only <= 100);
  assert.deepEqual(out[tsv], out.general, 'the same benchmark read from its file scores the same');
  const bad = pulse('eval', '--model', fixture.base, '--set', 'everything', '--world-dir', world);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown set 'everything'/);
});

test('pulse report rebuilds the report of a run folder', () => {
  const dir = writeRun(completeResults('cli-report'));
  const r = pulse('report', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'report.html')) && existsSync(join(dir, 'charts', 'radar-fine_tuned.png')));
});
