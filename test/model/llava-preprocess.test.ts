import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { PulseError } from '../../src/errors.ts';
import { clipImage, clipPixels, parseClipConfig, resizedSize, type ClipConfig } from '../../src/model/llava/preprocess.ts';

// Made by scripts/clip-preprocess-fixtures.py: test images, and PIL's resize + centre crop of each
// as CLIPImageProcessor does it with LLaVA-1.5's config.
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'clip-preprocess');
interface Fixture { name: string; file: string; width: number; height: number; resized: { width: number; height: number }; crop: string }
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { images: Fixture[] };

/** llava-hf/llava-1.5-7b-hf's preprocessor_config.json. */
const LLAVA_CONFIG_TEXT = JSON.stringify({
  crop_size: { height: 336, width: 336 }, do_center_crop: true, do_convert_rgb: true, do_normalize: true,
  do_rescale: true, do_resize: true, image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_processor_type: 'CLIPImageProcessor', image_std: [0.26862954, 0.26130258, 0.27577711],
  processor_class: 'LlavaProcessor', resample: 3, rescale_factor: 0.00392156862745098, size: { shortest_edge: 336 },
});
const FILE = 'llava/preprocessor_config.json';
const llava = parseClipConfig(LLAVA_CONFIG_TEXT, FILE);

const fixtureBytes = (file: string) => new Uint8Array(readFileSync(join(FIXTURES, file)));
const rawPixels = async (input: Uint8Array | string) => new Uint8Array(await sharp(input).raw().toBuffer());

function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function expectPulseError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof PulseError && pattern.test(e.message));
}

for (const f of manifest.images) {
  test(`${f.name}: resize + crop within 1/255 of PIL's`, async (t) => {
    assert.deepEqual(resizedSize(f.width, f.height, llava.resize), f.resized);
    const got = await clipImage(fixtureBytes(f.file), llava, f.file);
    assert.equal(got.width, 336);
    assert.equal(got.height, 336);
    const diff = maxAbsDiff(got.pixels, await rawPixels(join(FIXTURES, f.crop)));
    t.diagnostic(`max abs diff ${diff}`);
    assert.ok(diff <= 1, `max abs diff ${diff}`);
  });
}

test('raw RGB pixels give what their encoded image gives', async () => {
  const f = manifest.images.find((i) => i.name === 'detail-640x480')!;
  const pixels = await rawPixels(fixtureBytes(f.file));
  const raw = await clipImage({ width: f.width, height: f.height, pixels }, llava);
  const encoded = await clipImage(fixtureBytes(f.file), llava);
  assert.deepEqual(raw.pixels, encoded.pixels);
});

test('normalised values are (crop / 255 - mean) / std, channels first', async () => {
  // A solid colour stays itself through the resize; worked by hand (float32 as numpy):
  // R (255/255 - 0.48145466) / 0.26862954 = 1.93033612, G (128/255 - 0.4578275) / 0.26130258 =
  // 0.16889732, B (0 - 0.40821073) / 0.27577711 = -1.48021984.
  const [w, h] = [500, 400];
  const solid = new Uint8Array(w * h * 3).map((_, i) => [255, 128, 0][i % 3]!);
  const out = await clipPixels({ width: w, height: h, pixels: solid }, llava);
  const plane = 336 * 336;
  assert.equal(out.length, 3 * plane);
  for (const i of [0, 12345, plane - 1]) {
    assert.ok(Math.abs(out[i]! - 1.93033612) < 1e-6, `R ${out[i]}`);
    assert.ok(Math.abs(out[plane + i]! - 0.16889732) < 1e-6, `G ${out[plane + i]}`);
    assert.ok(Math.abs(out[2 * plane + i]! - -1.48021984) < 1e-6, `B ${out[2 * plane + i]}`);
  }
  // And on a fixture, at a few pixels, against the same formula in doubles.
  const f = manifest.images.find((i) => i.name === 'landscape-500x375')!;
  const crop = await clipImage(fixtureBytes(f.file), llava);
  const chw = await clipPixels(fixtureBytes(f.file), llava);
  const { mean, std } = llava.normalize!;
  for (const [y, x] of [[0, 0], [100, 200], [335, 335]] as const) {
    for (let c = 0; c < 3; c++) {
      const v = crop.pixels[(y * 336 + x) * 3 + c]!;
      assert.ok(Math.abs(chw[c * plane + y * 336 + x]! - (v / 255 - mean[c]!) / std[c]!) < 1e-6);
    }
  }
});

test('LLaVA-1.5 config, its legacy bare-number form and the defaults', () => {
  const expected: ClipConfig = {
    resize: { shortestEdge: 336 }, crop: { height: 336, width: 336 }, rescaleFactor: 0.00392156862745098,
    normalize: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] }, convertRgb: true,
  };
  assert.deepEqual(llava, expected);
  // openai/clip-vit-large-patch14-336, which the original LLaVA-1.5 checkpoints point to.
  const legacy = parseClipConfig('{"size": 336, "crop_size": 336, "resample": 3, "do_center_crop": true, "feature_extractor_type": "CLIPFeatureExtractor"}', FILE);
  assert.deepEqual(legacy, { ...expected, rescaleFactor: 1 / 255 });
  // transformers' defaults: 224 shortest edge and crop, bicubic, OpenAI CLIP mean and std.
  assert.deepEqual(parseClipConfig('{}', FILE), { ...expected, resize: { shortestEdge: 224 }, crop: { height: 224, width: 224 }, rescaleFactor: 1 / 255 });
});

test('a missing crop_size with do_center_crop crops to the default 224 x 224', async () => {
  const config = parseClipConfig('{"size": {"shortest_edge": 336}, "do_center_crop": true}', FILE);
  assert.equal((await clipPixels(fixtureBytes('square-336.png'), config)).length, 3 * 224 * 224);
});

test('config errors name the file and the field', () => {
  expectPulseError(() => parseClipConfig('{"resample": 2}', FILE), /^llava\/preprocessor_config\.json: resample: only 3 \(bicubic\) is supported, got 2 \(bilinear\)$/);
  expectPulseError(() => parseClipConfig('{"size": {"shortest_edge": 336},', FILE), /^llava\/preprocessor_config\.json: not valid JSON/);
  expectPulseError(() => parseClipConfig('{"crop_size": "big"}', FILE), /^llava\/preprocessor_config\.json: crop_size: /);
  expectPulseError(() => parseClipConfig('{"image_mean": [0.5, 0.5]}', FILE), /^llava\/preprocessor_config\.json: image_mean: /);
  expectPulseError(() => parseClipConfig('{"size": {"longest_edge": 336}}', FILE), /^llava\/preprocessor_config\.json: size: /);
  expectPulseError(() => parseClipConfig('{"image_std": 0}', FILE), /^llava\/preprocessor_config\.json: image_std: /);
});

test('image errors name the image', async () => {
  await assert.rejects(clipImage(new Uint8Array([1, 2, 3]), llava, 'row 7 image'), (e) => e instanceof PulseError && /^row 7 image: the image bytes cannot be decoded/.test(e.message));
  await assert.rejects(clipImage({ width: 4, height: 4, pixels: new Uint8Array(47) }, llava, 'row 8 image'), (e) => e instanceof PulseError && /^row 8 image: /.test(e.message));
  const noConvert = parseClipConfig('{"do_convert_rgb": false}', FILE);
  await assert.rejects(clipImage(fixtureBytes('grey-400x300.png'), noConvert, 'grey.png'), (e) => e instanceof PulseError && /^grey\.png: .*do_convert_rgb/.test(e.message));
});

/** `png` with the iCCP chunk of `withProfile` inserted after its IHDR: same stored pixels, now with a profile. */
function withIccpChunk(png: Uint8Array, withProfile: Uint8Array): Uint8Array {
  const view = new DataView(withProfile.buffer, withProfile.byteOffset, withProfile.byteLength);
  for (let at = 8; at < withProfile.length;) {
    const end = at + 12 + view.getUint32(at);
    if (new TextDecoder().decode(withProfile.subarray(at + 4, at + 8)) === 'iCCP') {
      const ihdrEnd = 8 + 12 + 13;
      return new Uint8Array([...png.subarray(0, ihdrEnd), ...withProfile.subarray(at, end), ...png.subarray(ihdrEnd)]);
    }
    at = end;
  }
  throw new Error('no iCCP chunk');
}

test('an embedded colour profile and EXIF orientation are ignored, as PIL ignores them', async () => {
  const f = manifest.images.find((i) => i.name === 'portrait-375x500')!;
  const raw = { raw: { width: f.width, height: f.height, channels: 3 as const } };
  const pixels = await rawPixels(fixtureBytes(f.file));
  // Display P3 would shift these colours if it were applied; PIL gives the stored values.
  const p3 = withIccpChunk(fixtureBytes(f.file), new Uint8Array(await sharp(pixels, raw).withIccProfile('p3').png().toBuffer()));
  assert.ok((await sharp(p3).metadata()).hasProfile);
  const expected = await rawPixels(join(FIXTURES, f.crop));
  assert.deepEqual((await clipImage(p3, llava)).pixels, expected);
  const jpeg = await sharp(pixels, raw).jpeg().toBuffer();
  const rotated = await sharp(pixels, raw).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  assert.equal((await sharp(rotated).metadata()).orientation, 6);
  assert.deepEqual((await clipImage(new Uint8Array(rotated), llava)).pixels, (await clipImage(new Uint8Array(jpeg), llava)).pixels);
});

test('a crop larger than the image pads with zeros, the image floor-centred as transformers places it', async () => {
  const config = parseClipConfig('{"do_resize": false, "crop_size": {"height": 4, "width": 6}, "do_rescale": false, "do_normalize": false}', FILE);
  // 3 wide, 2 high: left = floor((3 - 6) / 2) = -2, top = floor((2 - 4) / 2) = -1.
  const pixels = new Uint8Array(3 * 2 * 3).map((_, i) => 10 + i);
  const out = await clipImage({ width: 3, height: 2, pixels }, config);
  const at = (y: number, x: number) => Array.from(out.pixels.subarray((y * 6 + x) * 3, (y * 6 + x) * 3 + 3));
  assert.deepEqual(at(1, 2), [10, 11, 12]);
  assert.deepEqual(at(2, 4), [25, 26, 27]);
  assert.deepEqual(at(0, 2), [0, 0, 0]);
  assert.deepEqual(at(1, 1), [0, 0, 0]);
  assert.deepEqual(at(3, 5), [0, 0, 0]);
  assert.deepEqual(Array.from((await clipPixels({ width: 3, height: 2, pixels }, config)).subarray(0, 8)), [0, 0, 0, 0, 0, 0, 0, 0]);
});
