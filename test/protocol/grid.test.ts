import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, resolveConfig } from '../../src/protocol/config.ts';
import { baseMethod, expandGrid, pointConfig, resolveVariant, variantsOf } from '../../src/protocol/grid.ts';
import { settingsFor } from '../../src/protocol/runner.ts';
import { registerMethod, unregisterMethod } from '../../src/unlearn/registry.ts';
import { gradientAscent } from '../../src/unlearn/ga.ts';
import { PulseError } from '../../src/errors.ts';

const quick = (overrides: Record<string, unknown>) => resolveConfig({ preset: 'quick', overrides });
const names = (config: ReturnType<typeof quick>, scenario: string, method: string) => variantsOf(config, scenario, method).map((v) => v.name);
const refused = (overrides: Record<string, unknown>, pattern: RegExp) => assert.throws(() => quick(overrides),
  (e: unknown) => e instanceof PulseError && pattern.test(e.message) && !e.message.includes('\n'), `expected ${pattern}`);

// That a config without grid keeps its hash and numbers: a quick run before and after, compared by scripts/compare-results.ts.
test('without grid: every method is its own only variant, and the config is what it was', () => {
  const config = quick({});
  assert.equal('grid' in config, false, 'no grid key is added to a config that has none');
  assert.deepEqual(expandGrid(config).map((v) => `${v.scenario}/${v.name}`), config.scenarios.flatMap((s) => ['ga', 'ga_klr', 'npo'].map((m) => `${s}/${m}`)));
  assert.ok(expandGrid(config).every((v) => v.overrides.length === 0));
  assert.equal(resolveVariant(config, 'fine_tuned', 'npo').config, config, 'the run config itself, not a copy');
});

test('a grid expands into named variants: keys sorted, values as String() writes them, method keys for their method only', () => {
  const config = quick({ methods: ['ga', 'npo'], grid: { 'method_settings.npo.lr': [1e-5, 3e-5, 1e-4], 'unlearn.epochs': [1, 2] } });
  assert.deepEqual(names(config, 'fine_tuned', 'ga'), ['ga@epochs=1', 'ga@epochs=2']);
  assert.deepEqual(names(config, 'fine_tuned', 'npo'), [
    'npo@epochs=1,lr=0.00001', 'npo@epochs=1,lr=0.00003', 'npo@epochs=1,lr=0.0001',
    'npo@epochs=2,lr=0.00001', 'npo@epochs=2,lr=0.00003', 'npo@epochs=2,lr=0.0001',
  ]);
  const variant = variantsOf(config, 'pre_trained', 'npo')[4]!;
  assert.deepEqual(variant, { name: 'npo@epochs=2,lr=0.00003', method: 'npo', scenario: 'pre_trained', overrides: [['unlearn.epochs', 2], ['method_settings.npo.lr', 3e-5]] });
  // the ablation's method (ga on llm) is expanded too; 3 scenarios x (2 ga + 6 npo)
  assert.equal(expandGrid(config).length, 3 * 8);
  assert.equal(baseMethod('npo@epochs=2,lr=0.00003'), 'npo');
});

test('hyperparameters read by their own name, scenario keys in their scenario only', () => {
  const config = quick({ methods: ['npo', 'ga'], grid: {
    'method_settings.npo.hyperparameters.beta': [0.2, 0.5], 'method_settings.npo.lr': [1e-4], 'scenario_settings.pre_trained.epochs': [2, 3],
  } });
  assert.deepEqual(names(config, 'fine_tuned', 'npo'), ['npo@beta=0.2,lr=0.0001', 'npo@beta=0.5,lr=0.0001']);
  assert.deepEqual(names(config, 'fine_tuned', 'ga'), ['ga'], 'no grid key applies to ga outside pre_trained');
  assert.deepEqual(names(config, 'pre_trained', 'ga'), ['ga@epochs=2', 'ga@epochs=3']);
  assert.deepEqual(names(config, 'pre_trained', 'npo'), ['npo@beta=0.2,epochs=2,lr=0.0001', 'npo@beta=0.2,epochs=3,lr=0.0001',
    'npo@beta=0.5,epochs=2,lr=0.0001', 'npo@beta=0.5,epochs=3,lr=0.0001']);
});

test('a variant runs its registry method with the point\'s settings; the run config is left as it was', () => {
  const config = quick({ grid: { 'method_settings.npo.hyperparameters.beta': [0.2], 'unlearn.lr': [0.01], 'unlearn.lora.rank': [2] },
    scenarios: ['fine_tuned', 'sustainability'], method_settings: { npo: { epochs: 3 } } });
  const before = structuredClone(config);
  const s = settingsFor(config, 'fine_tuned', 'npo@beta=0.2,lora.rank=2,lr=0.01', 'projector+llm', 0);
  assert.deepEqual([s.lr, s.epochs, s.lora?.rank, s.lora?.alpha, s.hyperparameters.beta], [0.01, 3, 2, PRESETS.quick.unlearn.lora!.alpha, 0.2]);
  assert.equal(settingsFor(config, 'fine_tuned', 'ga@lora.rank=2,lr=0.01', 'projector+llm', 0).lr, 0.01);
  assert.deepEqual(config, before);
  assert.equal(pointConfig(config, [['method_settings.ga.clip_norm', 2]]).method_settings.ga!.clip_norm, 2);
  assert.deepEqual(pointConfig(config, [['method_settings.ga.clip_norm', 2]]).method_settings.ga!.hyperparameters, {}, 'a new method layer has its hyperparameters');
  assert.throws(() => resolveVariant(config, 'fine_tuned', 'npo@lr=0.5'), /not a grid point/);
});

test('only the unlearning can be varied: a key of what every method shares is one line naming it', () => {
  refused({ grid: { 'fine_tune.steps': [10, 20] } }, /^invalid config \(preset quick\): grid\.fine_tune\.steps: a grid varies the unlearning only .*fine_tune is what every method/);
  refused({ grid: { seeds: [1, 2] } }, /grid\.seeds: a grid varies the unlearning only/);
  refused({ grid: { 'world.seed': [1] } }, /grid\.world\.seed: a grid varies the unlearning only/);
  refused({ grid: { 'model.path': [1] } }, /grid\.model\.path: a grid varies/);
  refused({ grid: { 'unlearn.lora.layers': [1] } }, /grid\.unlearn\.lora\.layers: not a setting a grid can vary \(lr, epochs/);
  refused({ grid: { 'unlearn.hyperparameters.beta': [1] } }, /grid\.unlearn\.hyperparameters\.beta: not a setting a grid can vary/);
  refused({ grid: { 'method_settings.npo': [1] } }, /grid\.method_settings\.npo: not a setting .*hyperparameters\.<name>/);
  refused({ grid: { 'unlearn.lr': ['fast'] } }, /grid\.unlearn\.lr\.0: .*number/);
  refused({ grid: { 'unlearn.lr': [] } }, /grid\.unlearn\.lr: .*(>=1|at least)/i);
});

test('every value is checked where it goes, and names, lora and shadowing are checked across keys', () => {
  refused({ grid: { 'unlearn.epochs': [1, 0] } }, /grid\.unlearn\.epochs: 0: unlearn\.epochs: .*>0/);
  refused({ grid: { 'unlearn.epochs': [1.5] } }, /grid\.unlearn\.epochs: 1\.5: unlearn\.epochs: .*int/i);
  refused({ grid: { 'method_settings.npo.lr': [-1] } }, /grid\.method_settings\.npo\.lr: -1: method_settings\.npo\.lr/);
  refused({ grid: { 'unlearn.lr': [0.1, 0.1] } }, /grid\.unlearn\.lr: 0\.1 is listed twice/);
  refused({ grid: { 'unlearn.stop_at_forgotten': [50] } }, /grid\.unlearn\.stop_at_forgotten: 50: unlearn\.stop_at_forgotten needs scoring inside requests/);
  refused({ grid: { 'method_settings.npo.hyperparameters.betta': [0.1] } }, /grid\.method_settings\.npo\.hyperparameters\.betta: 0\.1: .*unknown hyperparameter 'betta' \(known: beta\)/);
  refused({ grid: { 'method_settings.nop.lr': [0.1] } }, /grid\.method_settings\.nop\.lr: 0\.1: method_settings\.nop: unknown unlearning method 'nop'/);
  refused({ grid: { 'scenario_settings.pretrained.lr': [0.1] } }, /grid\.scenario_settings\.pretrained\.lr: 0\.1: scenario_settings\.pretrained: unknown scenario/);
  refused({ grid: { 'method_settings.npo.lora.rank': [2] } }, /grid\.method_settings\.npo\.lora\.rank: method_settings\.npo\.lora is not set there; set it, or vary unlearn\.lora\.rank/);
  refused({ scenarios: ['fine_tuned'], unlearn: { lora: null }, grid: { 'unlearn.lora.rank': [2] } }, /grid\.unlearn\.lora\.rank: unlearn\.lora is null/);
  // the quick preset updates pre_trained in full (scenario_settings.pre_trained.lora: null): a rank means nothing there
  refused({ grid: { 'unlearn.lora.rank': [2, 4] } }, /grid\.unlearn\.lora\.rank: no effect on ga in pre_trained, where scenario_settings\.pre_trained\.lora overrides it/);
  refused({ method_settings: { npo: { lr: 0.1 } }, grid: { 'unlearn.lr': [1e-4, 1e-3] } }, /grid\.unlearn\.lr: no effect on npo in fine_tuned, where method_settings\.npo\.lr overrides it/);
  refused({ grid: { 'unlearn.lr': [1e-4], 'scenario_settings.sustainability.lr': [1e-3] } }, /grid\.unlearn\.lr: no effect on ga in sustainability, where scenario_settings\.sustainability\.lr/);
  const many = { 'unlearn.batch_size': [8], 'unlearn.clip_norm': [1], 'unlearn.epochs': [1], 'unlearn.lr': [0.00003], 'method_settings.npo.hyperparameters.beta': [0.123456789],
    'scenario_settings.fine_tuned.lora.rank': [4], 'scenario_settings.fine_tuned.lora.alpha': [8], 'scenario_settings.fine_tuned.lora.dropout': [0.125] };
  refused({ scenarios: ['fine_tuned'], scenario_settings: { fine_tuned: { lora: PRESETS.quick.unlearn.lora } }, grid: many },
    /grid: the variant name 'npo@batch_size=8,beta=0\.123456789,clip_norm=1,epochs=1,lora\.alpha=8,lora\.dropout=0\.125,lora\.rank=4,lr=0\.00003' is not a valid name/);
});

test('a key of a method or scenario the run leaves out applies nowhere: a sweep runs a part at a time', () => {
  const config = quick({ methods: ['ga'], scenarios: ['fine_tuned'], grid: { 'method_settings.rmu.lr': [0.1, 0.2], 'scenario_settings.pre_trained.epochs': [2, 3] } });
  assert.deepEqual(expandGrid(config).map((v) => v.name), ['ga']);
});

test('two keys that read the same in a variant name are refused', () => {
  registerMethod({ ...gradientAscent, name: 'ga_lr', defaults: { lr: 1 } }, 'test');
  try {
    refused({ methods: ['ga_lr'], ablation: null, grid: { 'method_settings.ga_lr.hyperparameters.lr': [1, 2], 'unlearn.lr': [0.1, 0.2] } },
      /grid: method_settings\.ga_lr\.hyperparameters\.lr and unlearn\.lr both read 'lr' in ga_lr's variant names/);
  } finally {
    unregisterMethod('ga_lr');
  }
});

test('configs/sweep.yaml is a valid sweep of the paper preset: 6 npo points, 2 ga_klr points, ga as it is', () => {
  const config = resolveConfig({ file: 'configs/sweep.yaml' });
  assert.deepEqual(['ga', 'ga_klr', 'npo'].map((m) => names(config, 'fine_tuned', m).length), [1, 2, 6]);
  assert.equal(names(config, 'pre_trained', 'npo')[0], 'npo@beta=0.1,lr=0.0001');
  assert.equal(settingsFor(config, 'pre_trained', 'ga_klr@lambda=0.5', 'projector+llm', 0).hyperparameters.lambda, 0.5);
});
