import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { checkName, isValidName, joinInside } from '../../src/names.ts';
import { PulseError } from '../../src/errors.ts';

test('the names rule: run ids, scenarios, methods, grid variants and attacks that can become file names', () => {
  for (const ok of ['fine_tuned', 'ga_klr', 'npo@lr=0.00003', 'ga@epochs=2,lr=1e-05', 'paper-2026-01-01', 'projector+llm', '_x', '0', 'a'.repeat(100)]) {
    assert.ok(isValidName(ok), ok);
  }
  for (const bad of ['', '.', '..', '../../../x', 'a/b', 'a\\b', '-rf', '.hidden', 'two words', 'tab\tx', 'nl\nx', 'a'.repeat(101), 'é', 'a:b', 'a*b']) {
    assert.ok(!isValidName(bad), JSON.stringify(bad));
  }
  assert.equal(checkName('ga', 'methods.0'), 'ga');
  assert.throws(() => checkName('../../../x', 'results.json: scenarios.0.scenario'),
    (e: unknown) => e instanceof PulseError && e.message.startsWith("results.json: scenarios.0.scenario: '../../../x' is not a valid name"));
  assert.throws(() => checkName(`x${'\n'.repeat(3)}${'y'.repeat(10_000)}`, 'w'), (e: unknown) => e instanceof PulseError && !e.message.includes('\n') && e.message.length < 300);
});

test('joinInside refuses a path that leaves its folder', () => {
  const root = resolve('/tmp/run');
  assert.equal(joinInside(root, 'charts', 'radar-fine_tuned.svg'), join(root, 'charts', 'radar-fine_tuned.svg'));
  for (const parts of [['..', 'x'], ['charts', '../../x'], ['/etc/passwd'], ['.'], ['a\0b']]) {
    assert.throws(() => joinInside(root, ...parts), PulseError, parts.join('|'));
  }
});
