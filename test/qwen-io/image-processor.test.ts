import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { PulseError } from '../../src/errors.ts';
import {
  Qwen2VLImageProcessor, loadQwen2VLImageConfig, qwen2VLImageConfig, smartResize,
} from '../../src/model/qwen2-vl/image-processor.ts';

// Made by scripts/qwen-io-fixtures.py: transformers 5.18's Qwen2VLImageProcessorPil on small images.
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'qwen-io');
interface ImageCase {
  name: string; image: string; config: string; width: number; height: number;
  resized?: { height: number; width: number }; grid?: { t: number; h: number; w: number };
  shape?: [number, number]; imageTokens?: number; pixels?: string; error?: string;
}
const { cases } = JSON.parse(readFileSync(join(FIXTURES, 'image-cases.json'), 'utf8')) as { cases: ImageCase[] };

function processorFor(config: string): Qwen2VLImageProcessor {
  // A model folder's config is loaded as a folder; the others are single files.
  if (config.endsWith('/preprocessor_config.json')) return Qwen2VLImageProcessor.load(join(FIXTURES, dirname(config)));
  return new Qwen2VLImageProcessor(qwen2VLImageConfig(JSON.parse(readFileSync(join(FIXTURES, config), 'utf8')), config));
}

function expectPulseError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PulseError && pattern.test(e.message) && !e.message.includes('\n'));
}

const imageBytes = (file: string) => new Uint8Array(readFileSync(join(FIXTURES, file)));

for (const c of cases.filter((x) => !x.error)) {
  test(`${c.name}: ${c.width}x${c.height} with ${c.config}: pixel_values and grid equal transformers'`, async (t) => {
    const processor = processorFor(c.config);
    assert.deepEqual(processor.resizedSize({ width: c.width, height: c.height }), c.resized);
    const got = await processor.process(imageBytes(c.image), c.image);
    assert.deepEqual(got.grid, c.grid);
    assert.equal(got.imageTokens, c.imageTokens);
    assert.deepEqual([got.grid.t * got.grid.h * got.grid.w, got.patchDim], c.shape);
    const buffer = readFileSync(join(FIXTURES, c.pixels!));
    const expected = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4);
    assert.equal(got.pixelValues.length, expected.length);
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(got.pixelValues[i]! - expected[i]!));
    t.diagnostic(`max abs diff ${max}`);
    assert.ok(max <= 1e-6, `max abs diff ${max}`);
  });
}

for (const c of cases.filter((x) => x.error)) {
  test(`${c.name}: refused with one line where transformers raises (${c.error!.slice(0, 50)}...)`, async () => {
    const pattern = /aspect ratio/.test(c.error!) ? /wide-402x2\.png: 402x2 has an aspect ratio of 201\.0; .* at most 200$/
      : /one-bound\.json: size needs both shortest_edge and longest_edge/;
    await assert.rejects(async () => processorFor(c.config).process(imageBytes(c.image), c.image),
      (e: unknown) => e instanceof PulseError && pattern.test(e.message));
  });
}

test('smart resize rounds halves to even as Python does, then keeps within the pixel bounds', () => {
  // 42/28 = 1.5 and 70/28 = 2.5 both round to 2 (Math.round would give 2 and 3).
  assert.deepEqual(smartResize({ width: 70, height: 42 }, 28, 3136, 12845056), { width: 56, height: 56 });
  // 15x20 rounds to 28x28 = 784 < 3136: beta = sqrt(3136 / 300) = 3.2332; ceil(15 * beta / 28) = 2, ceil(20 * beta / 28) = 3.
  assert.deepEqual(smartResize({ width: 20, height: 15 }, 28, 3136, 12845056), { width: 84, height: 56 });
  // 300x200 rounds to 308x196 > 12544: beta = sqrt(60000 / 12544) = 2.1870; floor(200 / beta / 28) = 3, floor(300 / beta / 28) = 4.
  assert.deepEqual(smartResize({ width: 300, height: 200 }, 28, 3136, 12544), { width: 112, height: 84 });
  // Never below one factor on a side: 3000x30 rounds to 2996x28 > 3136, beta = sqrt(90000 / 3136) = 5.3571;
  // floor(30 / beta / 28) = 0 becomes 28, floor(3000 / beta / 28) = 20.
  assert.deepEqual(smartResize({ width: 3000, height: 30 }, 28, 56, 3136), { width: 560, height: 28 });
});

test('raw RGB pixels give what their encoded image gives; t*h*w / merge^2 image tokens', async () => {
  const processor = processorFor('qwen2.5-vl/preprocessor_config.json');
  const { data, info } = await sharp(join(FIXTURES, 'images/photo-100x80.png')).raw().toBuffer({ resolveWithObject: true });
  const raw = await processor.process({ width: info.width, height: info.height, pixels: new Uint8Array(data) });
  const encoded = await processor.process(imageBytes('images/photo-100x80.png'));
  assert.deepEqual(raw.pixelValues, encoded.pixelValues);
  assert.equal(processor.imageTokens({ t: 1, h: 6, w: 8 }), 12);
  assert.deepEqual(processor.gridOf({ width: 100, height: 80 }), { grid: { t: 1, h: 6, w: 8 }, imageTokens: 12 });
});

test('the Hub config reads as transformers reads it: its pixel bounds over the class defaults, CLIP mean and std', () => {
  const config = loadQwen2VLImageConfig(join(FIXTURES, 'qwen2-vl'));
  assert.deepEqual(config.resize, { minPixels: 3136, maxPixels: 12845056 });
  assert.deepEqual([config.patchSize, config.temporalPatchSize, config.mergeSize, config.convertRgb], [14, 2, 2, true]);
  assert.deepEqual(config.normalize?.mean, [0.48145466, 0.4578275, 0.40821073]);
  assert.equal(config.rescaleFactor, 1 / 255);
  // An empty config: Qwen2VLImageProcessorPil's class defaults (size 3136..1003520).
  assert.deepEqual(qwen2VLImageConfig({}, 'x').resize, { minPixels: 3136, maxPixels: 1003520 });
});

test('a folder\'s processor_config.json image_processor comes first, as in transformers 5', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qwen-io-'));
  try {
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ min_pixels: 3136, max_pixels: 12845056 }));
    writeFileSync(join(dir, 'processor_config.json'), JSON.stringify({ image_processor: { size: { shortest_edge: 784, longest_edge: 6272 } } }));
    assert.deepEqual(loadQwen2VLImageConfig(dir).resize, { minPixels: 784, maxPixels: 6272 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing or video-only processor config is one line naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qwen-io-'));
  try {
    expectPulseError(() => loadQwen2VLImageConfig(dir), /preprocessor_config\.json: missing: the folder has no image processor config$/);
    writeFileSync(join(dir, 'video_preprocessor_config.json'), JSON.stringify({ video_processor_type: 'Qwen2VLVideoProcessor' }));
    expectPulseError(() => loadQwen2VLImageConfig(dir), /preprocessor_config\.json: missing: the folder has only a video processor's config \(.*video_preprocessor_config\.json\)/);
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ video_processor_type: 'Qwen2VLVideoProcessor', fps: 2 }));
    expectPulseError(() => loadQwen2VLImageConfig(dir), /preprocessor_config\.json: is a video processor's config \(Qwen2VLVideoProcessor\)/);
    writeFileSync(join(dir, 'preprocessor_config.json'), '{"min_pixels": ');
    expectPulseError(() => loadQwen2VLImageConfig(dir), /preprocessor_config\.json: not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config values the processor cannot use are refused, naming the key', () => {
  expectPulseError(() => qwen2VLImageConfig({ image_processor_type: 'CLIPImageProcessor' }, 'p.json'), /^p\.json: image_processor_type CLIPImageProcessor is not Qwen2-VL's/);
  expectPulseError(() => qwen2VLImageConfig({ resample: 2 }, 'p.json'), /^p\.json: resample: only 3 \(bicubic\) is supported, got 2 \(bilinear\)$/);
  expectPulseError(() => qwen2VLImageConfig({ image_std: [0.5, 0, 0.5] }, 'p.json'), /image_std: a standard deviation of 0/);
  expectPulseError(() => qwen2VLImageConfig({ patch_size: 0 }, 'p.json'), /^p\.json: patch_size: /);
  expectPulseError(() => qwen2VLImageConfig({ min_pixels: 5000, max_pixels: 4000 }, 'p.json'), /minimum pixel count 5000 is above the maximum 4000/);
  expectPulseError(() => qwen2VLImageConfig({ size: 448 }, 'p.json'), /^p\.json: size: expected \{"shortest_edge"/);
});

test('with do_resize off an image must already fit the patch grid', async () => {
  const processor = new Qwen2VLImageProcessor(qwen2VLImageConfig({ do_resize: false }, 'p.json'));
  const pixels = { width: 30, height: 28, pixels: new Uint8Array(30 * 28 * 3) };
  await assert.rejects(processor.process(pixels, 'odd.png'), /odd\.png: 30x28 is not a multiple of 28 \(patch_size x merge_size\) and do_resize is off/);
});
