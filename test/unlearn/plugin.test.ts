import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileSha256 } from '../../src/hash.ts';
import { loadPlugins } from '../../src/unlearn/plugins.ts';
import { METHODS, unregisterMethod } from '../../src/unlearn/registry.ts';
import { PulseError } from '../../src/errors.ts';
import { protocolFixture, pulseCli } from '../protocol/fixture.ts';

const EXAMPLE = resolve('examples/capped-ga.ts');
const fixture = await protocolFixture();
const pulse = (args: string[]) => pulseCli(fixture.dir, args);

test('pulse run --plugin runs the README example method beside a built-in one and records the file', async () => {
  const out = join(fixture.dir, 'runs', 'plugin');
  const run = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--scenarios', 'pre_trained', '--methods', 'ga,capped_ga',
    '--plugin', EXAMPLE, '--out', out, '--no-report']);
  assert.equal(run.code, 0, run.stderr);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.deepEqual(results.run.plugins, [{ path: EXAMPLE, sha256: fileSha256(EXAMPLE), methods: ['capped_ga'] }]);
  const capped = results.scenarios[0].methods.find((m: { method: string }) => m.method === 'capped_ga');
  assert.equal(capped.status, 'complete');
  assert.deepEqual(capped.hyperparameters.tau, 8, 'the plug-in\'s defaults are recorded like a built-in method\'s');
  const again = await pulse(['run', '--preset', 'quick', '--config', fixture.config, '--scenarios', 'pre_trained', '--methods', 'ga,capped_ga', '--out', out]);
  assert.equal(again.code, 2, 'without the plug-in its method is unknown');
  assert.match(again.stderr, /methods\.1: unknown unlearning method 'capped_ga'/);
});

test('a plug-in that is missing, exports no method, or takes a built-in name is one clear error', async () => {
  const missing = await pulse(['run', '--preset', 'quick', '--plugin', 'no-such-file.ts']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^pulse: --plugin no-such-file\.ts: no such file/);
  const empty = join(fixture.dir, 'empty.ts');
  writeFileSync(empty, 'export const answer = 42;\n');
  await assert.rejects(loadPlugins([empty]), (e: unknown) => e instanceof PulseError && /exports no unlearning method/.test(e.message));
  const clash = join(fixture.dir, 'clash.ts');
  writeFileSync(clash, "export default { name: 'ga', description: 'x', needsReference: false, needsRetain: false, defaults: {}, loss: () => null };\n");
  await assert.rejects(loadPlugins([clash]), (e: unknown) => e instanceof PulseError && /a method named 'ga' is already registered/.test(e.message));
  const bad = join(fixture.dir, 'bad.ts');
  writeFileSync(bad, "export default { name: 'Bad Name', loss: 1 };\n");
  await assert.rejects(loadPlugins([bad]), (e: unknown) => e instanceof PulseError && /bad\.ts: not an unlearning method: name must be lower-case/.test(e.message));
  const broken = join(fixture.dir, 'broken.ts');
  writeFileSync(broken, 'export const = ;\n');
  await assert.rejects(loadPlugins([broken]), (e: unknown) => e instanceof PulseError && /broken\.ts: cannot load it/.test(e.message));
  const records = await loadPlugins([EXAMPLE]);
  assert.ok(METHODS.has('capped_ga'));
  for (const r of records) for (const m of r.methods) unregisterMethod(m);
  assert.ok(!METHODS.has('capped_ga') && METHODS.has('ga'));
});
