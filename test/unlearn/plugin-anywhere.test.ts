import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlugins } from '../../src/unlearn/plugins.ts';
import { METHODS, unregisterMethod } from '../../src/unlearn/registry.ts';
import { tokenAveragedNll } from '../../src/index.ts';
import { PulseError } from '../../src/errors.ts';
import { userCodeFrame } from '../../src/user-code.ts';

/** A plug-in's source: one method named `name`, importing pulse as `from`, in TypeScript or JavaScript. */
const method = (name: string, from: string, ts: boolean) => `import { tokenAveragedNll${ts ? ', type UnlearningMethod' : ''} } from '${from}';
export const ${name}${ts ? ': UnlearningMethod' : ''} = {
  name: '${name}', description: 'GA', needsReference: false, needsRetain: false, defaults: {},
  loss: ({ model, forget }${ts ? ': Parameters<UnlearningMethod["loss"]>[0]' : ''}) => tokenAveragedNll(model, forget).neg(),
  nll: tokenAveragedNll,
};
`;

// A folder outside the repository, with no package.json and no node_modules: nothing there resolves 'pulse' by itself.
const dir = mkdtempSync(join(tmpdir(), 'pulse-plugins-'));
const write = (name: string, text: string) => { const path = join(dir, name); mkdirSync(join(path, '..'), { recursive: true }); writeFileSync(path, text); return path; };

test('plug-ins in any folder (.ts, .mts, .js, .mjs) import pulse by either name, and get the running pulse', async () => {
 // a CommonJS folder: its .ts files would go through require() and meet the ESM graph importing them
  write('cjs/package.json', '{ "type": "commonjs" }\n');
  write('cjs/helper.ts', 'export const label: string = "from a helper";\n');
  const files = [
    write('a.ts', method('from_ts', 'pulse', true)),
    write('b.mts', method('from_mts', '@pulse-unlearning/pulse', true)),
    write('c.js', method('from_js', 'pulse', false)),
    write('d.mjs', method('from_mjs', '@pulse-unlearning/pulse', false)),
    write('cjs/e.ts', `import { label } from './helper.ts';\n${method('from_cjs_folder', 'pulse', true).replace("description: 'GA'", 'description: label')}`),
  ];
  const records = await loadPlugins(files);
  try {
    assert.deepEqual(records.map((r) => r.methods), [['from_ts'], ['from_mts'], ['from_js'], ['from_mjs'], ['from_cjs_folder']]);
    for (const name of ['from_ts', 'from_mts', 'from_js', 'from_mjs']) {
      assert.equal((METHODS.get(name) as unknown as { nll: unknown }).nll, tokenAveragedNll, `${name}: the same module as pulse's own`);
    }
    assert.equal(METHODS.get('from_cjs_folder')!.description, 'from a helper');
    assert.deepEqual(await loadPlugins([files[0]!]), [records[0]], 'loading a file again (run() twice in a process) registers nothing twice');
  } finally {
    for (const r of records) for (const m of r.methods) unregisterMethod(m);
  }
});

test("a plug-in's own errors reach the user as themselves: its message and its file:line, never a module-system cycle", async () => {
  const throws = write('throws.ts', 'import { tokenAveragedNll } from "pulse";\nconst ready: boolean = typeof tokenAveragedNll === "function";\nif (ready) throw new Error("my plug-in is broken");\n');
  await assert.rejects(loadPlugins([throws]), (e: unknown) => e instanceof PulseError
    && e.message === `--plugin ${throws}: cannot load it: my plug-in is broken (at ${throws}:3:18)`);
  const missing = write('missing.mts', 'import { noSuchExport } from "pulse";\nexport default noSuchExport;\n');
  await assert.rejects(loadPlugins([missing]), (e: unknown) => e instanceof PulseError
    && /cannot load it: .*does not provide an export named 'noSuchExport'/.test(e.message) && !/cycle/.test(e.message));
  const syntax = write('syntax.ts', 'export const = 1;\n');
  await assert.rejects(loadPlugins([syntax]), (e: unknown) => e instanceof PulseError
    && e.message === `--plugin ${syntax}: cannot load it: Expected identifier but found "=" (at ${syntax}:1:14)`);
});

test('an error is the user\'s when its first frame outside node_modules is outside pulse\'s code', () => {
  const error = new Error('x');
  error.stack = `Error: x in /tmp/data.csv:12\n    at run (node:internal/modules/run_main:123:26)\n    at loss (file://${dir}/m.ts:5:11)\n    at step (/somewhere/pulse/src/unlearn/unlearn.ts:1:1)`;
  assert.equal(userCodeFrame(error), `${dir}/m.ts:5:11`);
  const ours = new Error('y');
  ours.stack = `Error: y\n    at f (${join(process.cwd(), 'src', 'torch', 'ops.ts')}:3:4)\n    at loss (${dir}/m.ts:5:11)`;
  assert.equal(userCodeFrame(ours), null, 'thrown in pulse, even when a plug-in called it');
});

test('a plug-in loss that returns no tensor is its error, named, not a crash in pulse', async () => {
  const { lossAndGradient } = await import('../../src/unlearn/unlearn.ts');
  const { StandInModel } = await import('../model/stand-in.ts');
  const model = new StandInModel(1);
  const example = { prompt: 'who', answer: 'ann' };
  const bad = { name: 'bad_loss', description: 'x', needsReference: false, needsRetain: false, defaults: {}, loss: () => tokenAveragedNll };
  await assert.rejects(lossAndGradient(model, bad as never, null, [example], [], {}),
    (e: unknown) => e instanceof PulseError && e.message === 'bad_loss: loss must return a one-element Tensor, got function');
  model.dispose();
});
