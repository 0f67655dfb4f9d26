import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProtocol } from '../../src/protocol/runner.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { loadProtocolData } from '../../src/data/protocol-data.ts';
import { SCENARIOS, CELEBRITIES, behaviourSelection, type Scenario } from '../../src/protocol/scenarios.ts';
import { registerModelKind } from '../../src/model/registry.ts';
import { writeReport } from '../../src/report/index.ts';
import { Results } from '../../src/protocol/results-schema.ts';
import { protocolFixture } from './fixture.ts';
import { standInKind, StandInModel } from '../model/stand-in.ts';

const fixture = await protocolFixture();
registerModelKind(standInKind);

test('a model that is not the embedded one runs the quick protocol end to end through the same runner', async () => {
  const out = join(fixture.dir, 'runs', 'stand-in');
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { model: { kind: 'stand_in', seed: 3 } } });
  assert.deepEqual(config.model, { kind: 'stand_in', seed: 3 }, 'a section of another kind replaces the preset\'s');
  assert.equal(Object.getPrototypeOf(StandInModel.prototype).constructor.name, 'Module', 'the stand-in is no subclass of the embedded model');
  const { results } = await runProtocol({ config, outDir: out, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c) => loadProtocolData(c.world) });
  Results.parse(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
  assert.equal(results.run.model.kind, 'stand_in');
  assert.deepEqual(results.scenarios.map((s) => [s.scenario, s.status]), [['fine_tuned', 'complete'], ['pre_trained', 'complete'], ['sustainability', 'complete']]);
  for (const s of results.scenarios) {
    for (const m of s.methods) {
      assert.equal(m.requests.length, s.splits.requests.length);
      for (const r of m.requests) {
        assert.ok(r.after.unlearn.multimodal !== null && r.after.unlearn.text_only !== null, 'scored by modality');
        assert.ok(Number.isFinite(r.loss.first) && Number.isFinite(r.loss.last));
      }
    }
  }
  assert.ok(existsSync(join(fixture.dir, '.cache')), 'the stand-in\'s fine-tune is cached like any model\'s');
});

test('adding a scenario is one table entry: a sequential pre-trained scenario runs and is reported', async () => {
  const sequential: Scenario = {
    name: 'pre_trained_sequential',
    title: 'Pre-trained knowledge, one person per request',
    start: 'base',
    people: CELEBRITIES,
    selection: behaviourSelection((c) => c.pre_trained),
    sizes: (c) => ({ unlearn: c.pre_trained.unlearn, retain: c.pre_trained.retain, requests: c.pre_trained.unlearn }),
    splitLabel: 'pre_trained',
    ablation: false,
  };
  const out = join(fixture.dir, 'runs', 'fourth');
  const config = resolveConfig({ preset: 'quick', file: fixture.config, overrides: { methods: ['ga'] } });
  config.scenarios = ['pre_trained_sequential'];
  const { results } = await runProtocol({
    config, outDir: out, preset: 'quick', cacheDir: join(fixture.dir, '.cache'), loadData: (c) => loadProtocolData(c.world), scenarios: [...SCENARIOS, sequential],
  });
  const [scenario] = results.scenarios;
  assert.equal(scenario!.scenario, 'pre_trained_sequential');
  assert.equal(scenario!.title, sequential.title);
  assert.equal(scenario!.splits.requests.length, config.pre_trained.unlearn);
  assert.ok(scenario!.selection!.kept.length >= config.pre_trained.keep);
  assert.equal(scenario!.methods[0]!.requests.length, config.pre_trained.unlearn);
  const report = await writeReport(out);
  const html = readFileSync(report.html, 'utf8');
  assert.match(html, /<section data-scenario="pre_trained_sequential"><h2>Pre-trained knowledge, one person per request<\/h2>/);
  assert.ok(report.charts.some((c) => c.endsWith('pre_trained_sequential-lines.svg')), 'a scenario of several requests gets its line chart');
});
