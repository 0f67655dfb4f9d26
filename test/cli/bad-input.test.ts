import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { protocolFixture } from '../protocol/fixture.ts';
import { completeResults, writeRun } from '../report/fixtures.ts';

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

// --- issue 21: every fault and every bad input ends clean ---

const yamlWith = (name: string, extra: Record<string, unknown>) => file(name, stringify({ ...parse(readFileSync(fixture.config, 'utf8')), ...extra }));

test('a results.json whose names are paths is refused by report and export; nothing is written outside the run folder', () => {
  const results = completeResults('evil');
  // a name of its own: /tmp is shared, and another program's /tmp/x proves nothing
  const target = `pulse-evil-${process.pid}`;
  results.scenarios[0]!.scenario = `../../../${target}`;
  const dir = writeRun(results);
  refused(['report', dir], new RegExp(`results\\.json: scenarios\\.0\\.scenario: '\\.\\./\\.\\./\\.\\./${target}' is not a valid name`));
  refused(['export', dir], /is not a valid name/);
  results.scenarios[0]!.scenario = 'fine_tuned';
  results.run.id = 'a/../../b';
  refused(['report', writeRun(results)], /run\.id: 'a\/\.\.\/\.\.\/b' is not a valid name/);
  assert.deepEqual(readdirSync(dir).sort(), ['results.json']);
  assert.ok(!existsSync(join(dir, '..', '..', target)) && !existsSync(join(dir, '..', '..', '..', target)));
});

test('a results.json that repeats a method or a scenario entry is one line from report and export, not minutes and an out-of-memory abort', () => {
  // found by npm run fuzz -- --cases 300 (results #225): 20000 copies of one method; 500 copies took the report 66 s and 4.5 GB, then V8 aborted
  const results = completeResults('twice');
  const methods = results.scenarios[0]!.methods;
  methods.push(structuredClone(methods[0]!));
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const repeated = literal(`scenarios.0.methods.${methods.length - 1}: ${methods[0]!.method} [${methods[0]!.update_target}] appears again (first at methods.0)`);
  refused(['report', writeRun(results)], new RegExp(`results\\.json: ${repeated}; a run records it once$`));
  refused(['export', writeRun(results)], new RegExp(repeated));
  methods.pop();
  results.scenarios.push(structuredClone(results.scenarios[0]!));
  refused(['report', writeRun(results)], new RegExp(`scenarios\\.${results.scenarios.length - 1}: ${results.scenarios[0]!.scenario} with seed \\d+ appears again`));
});

test('an empty world.dir, or the current folder, is refused: a world is generated only into a folder of its own', () => {
  refused(quick('runs/w-empty', '--config', yamlWith('w-empty.yaml', { world: { seed: 0, dir: '' } })), /world folder '': a world is written into a folder of its own/, 'runs/w-empty');
  refused(['data', 'generate', '--out', '.'], /world folder '\.': a world is written into a folder of its own/);
  refused(['data', 'generate', '--out', ''], /world folder '': /);
  for (const f of ['manifest.json', 'MLLMU-Bench', 'MMBench', 'refusals.txt']) assert.ok(!existsSync(join(fixture.dir, f)), `${f} in the current folder`);
});

test('sizes are checked against the data before the run folder exists', () => {
  refused(quick('runs/big-ft', '--config', yamlWith('big-ft.yaml', { fine_tune: { people: 100000 } })), /fine_tune\.people is 100000, but the data has 500 fictitious people/, 'runs/big-ft');
  refused(quick('runs/big-keep', '--config', yamlWith('big-keep.yaml', { pre_trained: { keep: 100000 } })), /pre_trained\.keep is 100000, but the data has 153 celebrities/, 'runs/big-keep');
});

test('LoRA layer names and method settings are checked against the model before anything is scored', () => {
  const started = performance.now();
  refused(quick('runs/lora', '--config', yamlWith('lora.yaml', { unlearn: { lora: { rank: 4, alpha: 8, dropout: 0, layers: ['nonexistent'] } } })),
    /the lora of fine_tuned, ga \[projector\+llm\]: lora\.layers \[nonexistent\] names no linear layer of projector\+llm \(its layers: /, 'runs/lora');
  refused(quick('runs/rmu', '--methods', 'rmu', '--config', yamlWith('rmu.yaml', { method_settings: { rmu: { hyperparameters: { layer_fraction: 2 } } } })),
    /method_settings\.rmu\.hyperparameters: rmu's layer_fraction must be in \(0, 1\] \(got 2\)/, 'runs/rmu');
  assert.ok(performance.now() - started < 60_000);
});

test('an output place that cannot hold a run folder is one line at once: virtual filesystems, files in the way', () => {
  for (const place of ['/sys/pulse-x', '/proc/pulse-x']) {
    const started = performance.now();
    const r = spawnSync(process.execPath, [PULSE, ...quick(place)], { cwd: fixture.dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${place}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^pulse: --out ${place}: cannot create the run folder in /(sys|proc): `, 'm'));
    assert.equal(r.stderr.split('\n').filter((l) => l && !l.startsWith('[')).length, 1, r.stderr);
    assert.ok(performance.now() - started < 30_000, `${place} took ${performance.now() - started} ms`);
  }
  refused(quick(join(file('plain-file', 'x'), 'run')), /plain-file is a file, not a folder/);
  refused(quick('runs/bad name'), /--out \S*runs\/bad name: the run's name \(the folder's last part\): 'bad name' is not a valid name/);
});

test('a sparse safetensors file claiming 2.8 GB of floats is refused from its header: no data read, little memory', () => {
  const path = join(fixture.dir, 'sparse.safetensors');
  const floats = 700_000_000;
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [floats], data_offsets: [0, 4 * floats] } }).padEnd(8 * 16));
  const fd = openSync(path, 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeSync(fd, length);
  writeSync(fd, header);
  ftruncateSync(fd, 8 + header.length + 4 * floats);
  closeSync(fd);
  const probe = `import { loadModel } from ${JSON.stringify(resolve('src/model/registry.ts'))};
    const t0 = performance.now();
    try { await loadModel({ kind: 'embedded', path: ${JSON.stringify(path)} }); } catch (e) { console.log(JSON.stringify({ message: e.message, pulse: e.name, ms: performance.now() - t0, rss: process.resourceUsage().maxRSS })); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
  const outcome = JSON.parse(r.stdout) as { message: string; pulse: string; ms: number; rss: number };
  assert.match(outcome.message, /sparse\.safetensors has no pulse manifest: it was not saved by pulse/);
  assert.ok(outcome.ms < 1000, `${outcome.ms} ms`);
  assert.ok(outcome.rss < 600 * 1024, `peak RSS ${outcome.rss} KiB`);
  refused(['eval', '--model', path, '--world-dir', join(fixture.dir, 'world')], /sparse\.safetensors has no pulse manifest/);
});

test('options are read as written, and a bad value is blamed on the option that set it', () => {
  refused(quick('runs/o1', '--methods', 'ga,,npo'), /--methods <list>' argument 'ga,,npo' is invalid\. an empty item in 'ga,,npo'/, 'runs/o1');
  refused(quick('runs/o2', '--seeds', '0x10'), /expected a decimal integer >= 0, got '0x10'/, 'runs/o2');
  refused(quick('runs/o3', '--threads', '1e3'), /expected a decimal integer >= 1, got '1e3'/, 'runs/o3');
  refused(quick('runs/o4', '--seeds', '0,1,99999999999999999999'), /expected a decimal integer >= 0, got '99999999999999999999'/, 'runs/o4');
  refused(['run', '--preset', 'quick', '--scenarios', 'fine_tuned', '--seeds', '0', '--out', 'runs/o5', '--config', file('seeds.yaml', 'seed: 1\nfine_tuned: { unlearn: 60 }\n')],
    /invalid config \(.*seeds\.yaml\): fine_tuned\.unlearn \+ fine_tuned\.retain must not exceed fine_tune\.people/, 'runs/o5');
  refused(['run', '--preset', 'quick', '--methods', 'sgd', '--out', 'runs/o6'], /invalid config \(--methods\): methods\.0: unknown unlearning method 'sgd'/, 'runs/o6');
  refused(quick('runs/o7', '--methods', 'ga,npo,ga'), /invalid config \(--methods\): methods\.2: 'ga' is listed twice/, 'runs/o7');
  refused(quick('runs/o8', '--config', yamlWith('ablation.yaml', { ablation: { method: 'ga', targets: ['llm', 'llm'] } })),
    /ablation\.targets\.1: 'llm' is listed twice/, 'runs/o8');
});

test('a __proto__ key in a config, and JSON that does not parse, are one line', () => {
  refused(quick('runs/proto', '--config', file('proto.yaml', '__proto__:\n  seed: 3\n')), /proto\.yaml: key '__proto__' is not allowed/, 'runs/proto');
  refused(quick('runs/proto2', '--config', file('proto2.yaml', 'method_settings:\n  npo:\n    constructor: 1\n')), /key 'method_settings\.npo\.constructor' is not allowed/, 'runs/proto2');
  const run = join(fixture.dir, 'broken-json');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'results.json'), '{"version": 2,\n "a": [1,2,\n }\n');
  refused(['report', run], /broken-json\/results\.json: not valid JSON: Unexpected token '}'$/);
  writeFileSync(join(run, 'results.json'), '{"version": 2,\n "a": [1 2]}');
  refused(['report', run], /not valid JSON: Expected ',' or ']' after array element at line 2, column 10$/);
  writeFileSync(join(run, 'results.json'), '{"__proto__": {"version": 2}}');
  refused(['report', run], /results\.json: the key '__proto__' is not allowed/);
});

test('pulse data inspect reads a plain MLLMU-Bench folder, without a manifest', () => {
  const world = join(fixture.dir, 'world');
  if (!existsSync(join(world, 'manifest.json'))) assert.equal(pulse(...quick('runs/for-world', '--check')).code, 0);
  const r = pulse('data', 'inspect', join(world, 'MLLMU-Bench'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /MLLMU-Bench: 3 MLLMU-Bench splits \(no pulse manifest\)/);
  assert.match(r.stdout, /Full_Set: 500 people, 500 images, 2500 multimodal \+ 2500 text-only questions/);
  assert.match(r.stdout, /Retain_Set: 153 people/);
  assert.match(r.stdout, /Test_Set: 500 people, 2000 images/);
  const split = pulse('data', 'inspect', join(world, 'MLLMU-Bench', 'Retain_Set'));
  assert.match(split.stdout, /Retain_Set: 153 people/);
  refused(['data', 'inspect', fixture.dir], /holds no pulse world \(manifest\.json\), no MLLMU-Bench split/);
});

test('pulse run --check validates the whole run and creates nothing', () => {
  const r = pulse(...quick('runs/checked', '--check'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /the run is valid: \S*runs\/checked can be created/);
  assert.ok(!existsSync(join(fixture.dir, 'runs', 'checked')));
});

test('a full disk while the report is written is one line naming the file and the bytes needed, and no half-written file', () => {
  const dir = writeRun(completeResults('full-disk'));
  const r = spawnSync(process.execPath, [PULSE, 'report', dir], { cwd: fixture.dir, encoding: 'utf8', env: { ...process.env, PULSE_FAULT: 'write:3:ENOSPC' } });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^pulse: cannot write .*\/charts\/\S+\.svg: no space left on the device: \d+(\.\d)? (bytes|KiB|MiB) needed, .* free\n$/);
  const charts = readdirSync(join(dir, 'charts'));
  assert.equal(charts.length, 2, 'the two files written before the fault, whole');
  assert.ok(charts.every((c) => !c.endsWith('.tmp')));
});

test('a question too long for the embedded model is one line from pulse ask, not a stack trace', () => {
  // 3000 words: the word-level tokenizer makes each one a token, far past the tiny model's 96 positions (92 of them text)
  const question = 'x '.repeat(3000);
  refused(['ask', '--model', fixture.base, '--question', question, '--options', 'a|b'], /^pulse: a question and answer of 30\d\d tokens do not fit the model, which takes 92$/);
});
