import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const pulse = (...args: string[]) => {
  const r = spawnSync(process.execPath, [resolve('bin/pulse.js'), ...args, '--threads', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

for (const [folder, kind] of [['qwen2.5-vl-hub', 'qwen2_5_vl'], ['qwen2-vl-hub', 'qwen2_vl']] as const) {
  test(`pulse ask takes a ${kind} folder alone (its model_type says the kind): answer, option log-likelihoods, next tokens`, () => {
    const r = pulse('ask', '--model', `test/fixtures/qwen/${folder}`, '--image', 'test/fixtures/qwen/expected/portrait.png',
      '--question', 'Who is this person?', '--options', 'Ann|Bob|Cy|Di', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { model: { kind: string }; options: { log_likelihood: number }[]; next_tokens: { log_prob: number }[] };
    assert.equal(out.model.kind, kind);
    assert.equal(out.options.length, 4);
    for (const o of out.options) assert.ok(o.log_likelihood < 0 && Number.isFinite(o.log_likelihood));
    assert.equal(out.next_tokens.length, 20);
  });
}

test('pulse ask with a --kind the folder contradicts is one line, exit status 2', () => {
  const r = pulse('ask', '--model', 'test/fixtures/qwen/qwen2-vl-hub', '--kind', 'qwen2_5_vl', '--question', 'Who?', '--options', 'A|B');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^pulse: model\.kind: "qwen2_5_vl", but .*config\.json says model_type qwen2_vl \(kind qwen2_vl\); leave model\.kind out or make it agree\n$/);
});
