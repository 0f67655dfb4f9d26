import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { disposeDelta } from '../../src/model/model.ts';
import { gradientAscent } from '../../src/unlearn/ga.ts';
import { registerMethod, unregisterMethod } from '../../src/unlearn/registry.ts';
import type { UnlearningMethod } from '../../src/unlearn/method.ts';
import { silentProgress, type ProgressFactory } from '../../src/progress.ts';
import { protocolFixture } from './fixture.ts';

/** GA that notes, per request, how many earlier deltas (and LoRA entries in them) its prepare hook was handed. */
const seen: number[][] = [];
const spy: UnlearningMethod = {
  ...gradientAscent,
  name: 'earlier_spy',
  prepare: async ({ earlierDeltas }) => {
    const deltas = await earlierDeltas();
    seen.push(deltas.map((d) => d.entries.filter((e) => e.kind === 'lora').length));
    deltas.forEach(disposeDelta);
    return { dispose: () => {} };
  },
};

const fixture = await protocolFixture();
const options = (outDir: string, methods: string[]) => {
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { scenarios: ['sustainability'], methods } });
  return { config, outDir, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c: typeof config) => loadProtocolData(c.world) };
};

test('the runner hands each request of a sequence the earlier requests\' deltas, on a fresh run and on a resumed one', async () => {
  registerMethod(spy, 'test');
  try {
    await runProtocol(options(join(fixture.dir, 'runs', 'fresh'), ['earlier_spy']));
    assert.deepEqual(seen.map((s) => s.length), [0, 1, 2], 'the quick sustainability sequence has 3 requests');
    assert.ok(seen[2]!.every((n) => n > 0), 'each earlier delta holds the merged adapters');
    const fresh = seen.splice(0);

    const out = join(fixture.dir, 'runs', 'resumed');
    const stopAtThird: ProgressFactory = (label, total) => {
      if (label.endsWith(' 3/3')) throw new Error('stopped before request 3');
      return silentProgress(label, total);
    };
    await assert.rejects(runProtocol({ ...options(out, ['earlier_spy']), progress: stopAtThird }), /stopped before request 3/);
    seen.splice(0);
    await runProtocol(options(out, ['earlier_spy']));
    assert.deepEqual(seen, [fresh[2]], 'the resumed request 3 reads requests 1 and 2 from their checkpoints');
  } finally {
    unregisterMethod('earlier_spy');
  }
});

test('o3 and mmunlearner run a sequence end to end', async () => {
  const { results } = await runProtocol(options(join(fixture.dir, 'runs', 'new-methods'), ['o3', 'mmunlearner']));
  const methods = results.scenarios[0]!.methods;
  assert.deepEqual(methods.map((m) => [m.method, m.status, m.requests.length]), [['o3', 'complete', 3], ['mmunlearner', 'complete', 3]]);
});
