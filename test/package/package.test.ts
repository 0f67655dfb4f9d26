/**
 * pulse as a user gets it: packed (after a fresh build: npm pack runs `npm run build`), installed from the tarball
 * into a new project (dependencies from the registry, through npm's local cache), set up there with `npx pulse setup`
 * (the checkout's addon for the same libtorch is copied from the cache: seconds, not a build), then, from that
 * project's folder, a run with a plug-in of the project's own, the README's "Use from code" script in plain Node, and
 * a TypeScript file type-checked against the package's declarations. Each command and its output go to transcript.txt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CHECKOUT = resolve('.');
// the checkout's cache: the addon its setup built is there (npm test sets PULSE_CACHE to it)
const env: NodeJS.ProcessEnv = { ...process.env, PULSE_CACHE: process.env.PULSE_CACHE ?? resolve('.cache/pulse') };
for (const key of Object.keys(env)) if (/^npm_(package|lifecycle)_/.test(key)) delete env[key];

const dir = mkdtempSync(join(tmpdir(), 'pulse-package-'));
const project = join(dir, 'my-study');
const transcript = join(dir, 'transcript.txt');

/** Runs a command, records it and its output (or `summary` of it) in the transcript, and fails the test when it fails. */
function sh(cwd: string, command: string, args: string[], summary?: (stdout: string) => string): string {
  const started = performance.now();
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  assert.equal(r.status, 0, `${command} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  const where = cwd === project ? 'my-study/' : cwd;
  appendFileSync(transcript, `$ ${command} ${args.join(' ')}    # in ${where}, ${seconds} s\n${summary ? summary(r.stdout) : r.stdout}${r.stderr}\n`);
  return r.stdout;
}

const TYPED = `import { loadResults, run, type ProgressEvent, type Results } from '@pulse-unlearning/pulse';
const results: Results = loadResults('runs/from-code');
const methods: string[] = results.scenarios.flatMap((s) => s.methods.map((m) => m.method));
export const again = () => run({ preset: 'quick', onProgress: (e: ProgressEvent) => console.log(e.label, e.done / e.total) });
// @ts-expect-error the declarations are the real ones: a run id is a string
export const wrong: number = results.run.id;
console.log(methods);
`;

test('the package: packed, installed into a new project, set up, run with a plug-in, used from plain Node and TypeScript', { timeout: 15 * 60_000 }, (t) => {
  // the checkout's setup keeps its addon in the cache (and is quick when nothing changed)
  sh(CHECKOUT, process.execPath, ['bin/pulse.js', 'setup']);

  type Packed = { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] }[];
  const describe = ({ filename, size, unpackedSize, entryCount }: Packed[number]) =>
    `${filename}: ${(size / 1e6).toFixed(2)} MB, ${entryCount} files (${(unpackedSize / 1e6).toFixed(2)} MB unpacked)`;
  const summary = (out: string) => `${describe((JSON.parse(out) as Packed)[0]!)}\n`;
  const packed = JSON.parse(sh(CHECKOUT, 'npm', ['pack', '--json', '--pack-destination', dir], summary)) as Packed;
  const { filename, files } = packed[0]!;
  const paths = files.map((f) => f.path);
  t.diagnostic(`tarball ${describe(packed[0]!)}`);
  for (const forbidden of ['test/', 'bench/', 'src/', 'docs/', '.cache/', 'native/build/', 'runs/', '.ci/']) {
    assert.ok(!paths.some((p) => p.startsWith(forbidden)), `no ${forbidden} in the tarball`);
  }
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/cli/main.js', 'dist/unlearn/plugin-hooks.js', 'bin/pulse.js',
    'native/binding.gyp', 'native/addon.cc', 'native/common.h', 'scripts/libtorch-config.mjs', 'assets/base.safetensors', 'README.md', 'LICENSE']) {
    assert.ok(paths.includes(needed), `${needed} in the tarball`);
  }

  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'my-study', private: true }, null, 2)}\n`);
  // --ignore-scripts: the setup is the explicit `npx pulse setup` below, whatever this npm's allowScripts says
  sh(project, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, filename)]);

  const setup = sh(project, 'npx', ['pulse', 'setup']);
  assert.match(setup, /addon +\S+node_modules\/@pulse-unlearning\/pulse\/native\/build\/Release\/pulse_torch\.node \((copied from the cache|up to date)\)/);
  assert.match(setup, /\nready\n/);
  assert.match(sh(project, 'npx', ['pulse', 'setup', '--check']), /\(up to date\)[\s\S]*\nready\n/);

  // the README's plug-in (it imports 'pulse'), as a method of the project's own
  const myMethod = readFileSync(join(CHECKOUT, 'examples', 'capped-ga.ts'), 'utf8').replace("name: 'capped_ga'", "name: 'my_ga'");
  assert.match(myMethod, /from 'pulse'[\s\S]*name: 'my_ga'/);
  writeFileSync(join(project, 'my-method.ts'), myMethod);
  // the quick preset's pre-trained scenario alone: the fine-tuned ones would add a fine-tune (minutes) to this test
  sh(project, 'npx', ['pulse', 'run', '--preset', 'quick', '--plugin', './my-method.ts', '--methods', 'ga,my_ga', '--scenarios', 'pre_trained',
    '--out', 'runs/cli']);
  const results = JSON.parse(readFileSync(join(project, 'runs', 'cli', 'results.json'), 'utf8'));
  assert.deepEqual(results.run.plugins.map((p: { methods: string[] }) => p.methods), [['my_ga']]);
  assert.deepEqual(results.scenarios[0].methods.map((m: { method: string; status: string }) => `${m.method} ${m.status}`), ['ga complete', 'my_ga complete']);
  assert.equal(results.run.model.path, join(project, 'node_modules', '@pulse-unlearning', 'pulse', 'assets', 'base.safetensors'), 'the shipped model');

  const readme = readFileSync(join(CHECKOUT, 'README.md'), 'utf8');
  assert.ok(readme.includes(readFileSync(join(CHECKOUT, 'examples', 'use.mjs'), 'utf8').trimEnd()), 'README shows examples/use.mjs as it is');
  copyFileSync(join(CHECKOUT, 'examples', 'use.mjs'), join(project, 'use.mjs'));
  const used = sh(project, process.execPath, ['use.mjs']);
  assert.match(used, /^pre_trained ga: forgotten \d+\.\d%, retained \d+\.\d% of D_retain$/m);
  assert.match(used, /^general benchmark: \d+\.\d% \(likelihood scoring\)$/m);
  assert.match(used, /^answer: ([A-D]|none); most likely option: [A-D]$/m);

  writeFileSync(join(project, 'typed.ts'), TYPED);
  const compilerOptions = { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: [] };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['typed.ts'] }));
  sh(project, process.execPath, [join(CHECKOUT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  t.diagnostic(`transcript: ${transcript}`);
});
