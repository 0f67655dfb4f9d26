import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BASE_MODEL, PACKAGE_ROOT, cacheDir, defaultRunDir, fromPortable, portablePath } from '../../src/paths.ts';
import { resolveConfig } from '../../src/protocol/config.ts';
import { configHash } from '../../src/protocol/runner.ts';

test('the cache is $PULSE_CACHE, else $XDG_CACHE_HOME/pulse, else ~/.cache/pulse', () => {
  assert.equal(cacheDir({ PULSE_CACHE: '/a/b', XDG_CACHE_HOME: '/x' }), '/a/b');
  assert.equal(cacheDir({ PULSE_CACHE: 'rel' }), resolve('rel'), 'absolute, from the current folder');
  assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), '/x/pulse');
  assert.equal(cacheDir({ XDG_CACHE_HOME: 'not/absolute' }), join(homedir(), '.cache', 'pulse'), 'the XDG spec ignores a relative value');
  assert.equal(cacheDir({}), join(homedir(), '.cache', 'pulse'));
});

test('shipped files are the package\'s, runs are the current folder\'s', () => {
  assert.equal(BASE_MODEL, join(PACKAGE_ROOT, 'assets', 'base.safetensors'));
  assert.equal(defaultRunDir('quick', new Date('2026-03-04T05:06:07Z')), resolve('runs', 'quick-2026-03-04'));
});

test('portable spellings: the cache as .cache/pulse/..., the package relative, anything else absolute; fromPortable inverts it', () => {
  for (const [absolute, portable] of [
    [BASE_MODEL, 'assets/base.safetensors'],
    [join(cacheDir(), 'world-0'), '.cache/pulse/world-0'],
    ['/data/models/llava', '/data/models/llava'],
  ]) {
    assert.equal(portablePath(absolute!), portable);
    assert.equal(fromPortable(portable!), absolute);
  }
});

test('config locations: a preset\'s in the package and the cache, a file\'s relative to the file, an override\'s to the current folder', () => {
  const before = process.env.PULSE_CACHE;
  process.env.PULSE_CACHE = '/somewhere/cache';
  try {
    const preset = resolveConfig({ preset: 'quick' });
    assert.equal(preset.model.path, BASE_MODEL);
    assert.equal(preset.world.dir, '/somewhere/cache/world-0');
    const dir = mkdtempSync(join(tmpdir(), 'pulse-paths-'));
    mkdirSync(join(dir, 'configs'));
    const file = join(dir, 'configs', 'c.yaml');
    writeFileSync(file, 'model: { kind: embedded, path: ../models/m.safetensors }\nworld: { dir: world }\n');
    const fromFile = resolveConfig({ preset: 'quick', file });
    assert.equal(fromFile.model.path, join(dir, 'models', 'm.safetensors'));
    assert.equal(fromFile.world.dir, join(dir, 'configs', 'world'));
    const overridden = resolveConfig({ preset: 'quick', file, overrides: { data: { mllmu: 'm', mmbench: 'b.tsv' }, fine_tune: { replay: 0 } } });
    assert.deepEqual(overridden.data, { mllmu: resolve('m'), mmbench: resolve('b.tsv') });
  } finally {
    if (before === undefined) delete process.env.PULSE_CACHE; else process.env.PULSE_CACHE = before;
  }
});

test('a run folder\'s config hash does not depend on where pulse or its cache is: the presets and shipped configs hash as in pulse 0.1', () => {
  // computed by pulse 0.1 (commit 928085e, relative default paths): `configHash(resolveConfig(...))` there
  const pulse01 = { quick: 'c1613f0dd5e95080', paper: '93179deed3af1489', llava: 'ce196fdc05bd2c72' };
  const before = process.env.PULSE_CACHE;
  try {
    for (const cache of ['/one/cache', '/another/cache']) {
      process.env.PULSE_CACHE = cache;
      assert.equal(configHash(resolveConfig({ preset: 'quick' })), pulse01.quick);
      assert.equal(configHash(resolveConfig({ preset: 'paper' })), pulse01.paper);
      assert.equal(configHash(resolveConfig({ file: join(PACKAGE_ROOT, 'configs', 'llava-1.5-7b.yaml') })), pulse01.llava);
    }
  } finally {
    if (before === undefined) delete process.env.PULSE_CACHE; else process.env.PULSE_CACHE = before;
  }
});
