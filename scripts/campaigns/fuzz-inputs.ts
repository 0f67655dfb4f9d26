/**
 * The valid inputs the fuzz campaign mutates, written once into a folder: small files of every format
 * pulse reads (MLLMU-Bench Parquet, MMBench TSV, a pulse model, a Hugging Face LLaVA folder, images,
 * results.json, a config) and a small dataset a config can run on.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { encodePng } from '../../src/data/images.ts';
import { writeMllmuParquet, writeMllmuTestParquet, type Codec } from '../../src/data/mllmu.ts';
import { writeMmbenchTsv } from '../../src/data/mmbench.ts';
import { pretrain, DEFAULT_PRETRAIN } from '../../src/train/pretrain.ts';
import { TINY_MODEL_CONFIG } from '../../src/model/embedded/config.ts';
import { completeResults } from '../../test/report/fixtures.ts';
import { benchmark, people, pixels } from './fuzz-people.ts';

export const TINY_LLAVA = resolve('test/fixtures/llava/tiny-hub');

export interface FuzzInputs {
  dir: string;
  /** MLLMU-Bench splits of both layouts and codecs, and an MMBench TSV */
  parquet: { path: string; name: string }[];
  tsv: string;
  /** a pulse model (embedded, tiny) */
  model: string;
  /** a Hugging Face LLaVA folder (the tests' tiny one) */
  llava: string;
  images: { png: string; jpeg: string };
  /** a run folder holding a complete results.json */
  run: string;
  /** a config running the quick preset on the tiny LLaVA and a small dataset; its first lines (model, data) stay fixed */
  config: { path: string; fixed: string; tail: Record<string, unknown> };
}

/** The config keys the fuzzer varies: the quick preset's shape, small enough for the small dataset. */
const CONFIG_TAIL = {
  threads: 1,
  seeds: [0, 1],
  methods: ['ga', 'npo', 'rmu'],
  scenarios: ['fine_tuned', 'pre_trained', 'sustainability'],
  attacks: ['relearn', 'mia'],
  fine_tune: { people: 10, steps: 5, replay: 0, lora: { rank: 4, alpha: 8, dropout: 0, layers: ['q_proj', 'v_proj'] } },
  fine_tuned: { unlearn: 6, retain: 4 },
  pre_trained: { keep: 6, threshold: 0, unlearn: 3, retain: 3 },
  sustainability: { requests: 3 },
  unlearn: { lr: 0.001, epochs: 1, batch_size: 4, lora: { rank: 4, alpha: 8, dropout: 0, layers: [] } },
  method_settings: { npo: { hyperparameters: { beta: 0.1 } }, rmu: { hyperparameters: { layer_fraction: 0.5 } } },
  scenario_settings: { pre_trained: { lora: null } },
  attack_settings: { relearn: { steps: 2, lr: 0.001, batch_size: 4, lora: { rank: 4, alpha: 8, dropout: 0, layers: [] } } },
  eval: { batch_size: 8, general_items: 4, every: 'request', oracle: false, bootstrap: 10 },
};

export async function writeFuzzInputs(dir: string): Promise<FuzzInputs> {
  mkdirSync(dir, { recursive: true });
  const { rows, tests } = await people(3);
  const parquet: FuzzInputs['parquet'] = [];
  for (const codec of ['SNAPPY', 'UNCOMPRESSED'] as Codec[]) {
    const full = join(dir, `full-${codec}.parquet`);
    await writeMllmuParquet(full, rows, codec);
    const test = join(dir, `test-${codec}.parquet`);
    await writeMllmuTestParquet(test, tests, codec);
    parquet.push({ path: full, name: `mllmu-${codec}` }, { path: test, name: `mllmu-test-${codec}` });
  }
  const tsv = join(dir, 'mmbench.tsv');
  await writeMmbenchTsv(tsv, await benchmark(4));

  const model = join(dir, 'tiny.safetensors');
  const { model: trained } = await pretrain({ ...DEFAULT_PRETRAIN, steps: 2, batchSize: 4, model: TINY_MODEL_CONFIG }, model, { threads: 1 });
  trained.dispose();
  const llava = join(dir, 'llava');
  cpSync(TINY_LLAVA, llava, { recursive: true });
  const png = join(dir, 'face.png');
  writeFileSync(png, await encodePng(pixels(7, 16), 16));
  const jpeg = join(dir, 'face.jpg');
  writeFileSync(jpeg, await sharp(Buffer.from(pixels(9, 16)), { raw: { width: 16, height: 16, channels: 3 } }).jpeg().toBuffer());

  const run = join(dir, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'results.json'), `${JSON.stringify(completeResults('fuzz-run'), null, 2)}\n`);

  // The small dataset the config runs on: 12 fictitious people, 8 celebrities, an MMBench TSV.
  const data = join(dir, 'dataset');
  const fictitious = await people(12, 'f');
  const celebrities = await people(8, 'c');
  await writeMllmuParquet(join(data, 'Full_Set', 'train-00000-of-00001.parquet'), fictitious.rows);
  await writeMllmuTestParquet(join(data, 'Test_Set', 'train-00000-of-00001.parquet'), fictitious.tests);
  await writeMllmuParquet(join(data, 'Retain_Set', 'train-00000-of-00001.parquet'), celebrities.rows);
  await writeMmbenchTsv(join(data, 'mmbench.tsv'), await benchmark(6));
  const fixed = stringify({ model: { kind: 'llava', path: llava }, data: { mllmu: data, mmbench: join(data, 'mmbench.tsv') } });
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `${fixed}${stringify(CONFIG_TAIL)}`);
  return { dir, parquet, tsv, model, llava, images: { png, jpeg }, run, config: { path: config, fixed, tail: structuredClone(CONFIG_TAIL) } };
}

export const readBytes = (path: string) => new Uint8Array(readFileSync(path));
