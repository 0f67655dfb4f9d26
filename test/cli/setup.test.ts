import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { LIBTORCH_HELP } from '../../src/setup/setup.ts';

const pulse = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [resolve('bin/pulse.js'), ...args], {
    encoding: 'utf8', env: { ...process.env, PULSE_CACHE: process.env.PULSE_CACHE ?? resolve('.cache/pulse'), ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('pulse setup --check reports the libtorch, the addon and what it loads, and changes nothing', () => {
  const r = pulse(['setup', '--check']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^libtorch  \d+\.\d+\.\d+ \((CPU|CUDA) build\), .+\n {10}lib \/\S+, C\+\+11 ABI [01]\n/);
  assert.match(r.stdout, new RegExp(`\\naddon     ${resolve('native/build/Release/pulse_torch.node')} \\(up to date\\)\\n`));
  assert.match(r.stdout, /\nloads     libtorch \S+, CUDA (not )?available\nBLAS      .+\nthreads   \d+ .*\nready\n$/);
});

test('a LIBTORCH that holds no libtorch is one line; with none at all, setup says how to get one', () => {
  const r = pulse(['setup', '--check'], { LIBTORCH: '/no/such/libtorch' });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'pulse: LIBTORCH=/no/such/libtorch has no include/torch/csrc/api/include/torch/torch.h and lib/libtorch.so\n');
  for (const way of ['apt-get install libtorch-dev', 'PULSE_PYTHON=', 'pip install torch', 'LIBTORCH']) assert.ok(LIBTORCH_HELP.includes(way), way);
});
