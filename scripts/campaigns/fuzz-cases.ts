/**
 * The fuzz campaign's cases, seeded, per format: each case is a few files written into its own folder
 * and the `pulse` command that reads them. Valid inputs come from fuzz-inputs.ts; every case mutates one.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { deriveSeed, rng } from '../../src/random.ts';
import { readBytes, type FuzzInputs } from './fuzz-inputs.ts';
import { BYTE_KINDS, craftedParquet, mutateBytes, mutateValue, parquetFooter, safetensorsHeader } from './fuzz-mutate.ts';

export const FORMATS = ['config', 'cli', 'results', 'safetensors', 'hf', 'parquet', 'tsv', 'image', 'plugin'] as const;
export type Format = (typeof FORMATS)[number];

/** A file of a case: its bytes, and optionally a larger size it is extended to (a sparse tail of zeros). */
export interface CaseFile { name: string; bytes: Uint8Array; sparseSize?: number }
export interface FuzzCase { format: Format; label: string; files: CaseFile[]; argv: string[] }

const utf8 = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** `count` cases of a format: the crafted ones first (at most half of them), then seeded mutations. */
export function fuzzCases(inputs: FuzzInputs, format: Format, count: number, seed: number): FuzzCase[] {
  const crafted = CRAFTED[format](inputs).slice(0, Math.ceil(count / 2));
  const out = [...crafted];
  for (let i = 0; out.length < count; i++) {
    const caseSeed = deriveSeed(seed, 'fuzz', format, i);
    out.push(MUTANTS[format](inputs, rng(caseSeed), `#${i} (seed ${caseSeed})`));
  }
  return out.slice(0, count);
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const byteKind = (random: Random) => pick(random, BYTE_KINDS);

/** Bytes of a document mutated either as a value (parsed, changed, written back) or as bytes. */
function mutateDocument(random: Random, text: string, parse: (t: string) => unknown, write: (v: unknown) => string, skip: string[] = []): { bytes: Uint8Array; how: string } {
  if (random() < 0.65) return { bytes: utf8(write(mutateValue(parse(text), random, skip))), how: 'value' };
  const kind = byteKind(random);
  const bytes = utf8(text);
  return { bytes: mutateBytes(bytes, [0, bytes.length], kind, random), how: kind };
}

const ASK = ['--question', 'Who is this?', '--options', 'Ann|Bob', '--threads', '1'];
const CHECK = (config: string) => ['run', '--check', '--preset', 'quick', '--config', config, '--out', 'runs/x'];

/**
 * A plug-in's method as data (its loss is added as code): what the fuzzer mutates. Each case's method
 * has its own name, so that cases sharing the sandbox process do not collide in the registry.
 */
const pluginMethod = (name: string) => ({ name, description: 'a fuzzed plug-in', needsReference: false, needsRetain: true, defaults: { tau: 8, scale: 1 } });
const LOSS = '({ model, forget }) => { throw new Error("--check never calls a loss"); }';
/** A plug-in module exporting `method` (a mutated value), with a loss unless `loss` is false. */
const pluginSource = (method: unknown, loss: boolean) =>
  `const method = ${JSON.stringify(method) ?? 'undefined'};\nif (${loss} && method && typeof method === 'object') method.loss = ${LOSS};\nexport default method;\n`;
const PLUGIN_CHECK = (config: string, name: string) => [...CHECK(config), '--plugin', 'plugin.mjs', '--methods', `ga,${name}`];

const MUTANTS: Record<Format, (inputs: FuzzInputs, random: Random, label: string) => FuzzCase> = {
  config: (inputs, random, label) => {
    // model and data stay as they are (fixed lines): a mutated path would send the check to generate a world
    const { bytes, how } = mutateDocument(random, stringify(inputs.config.tail), parseYaml, (v) => stringify(v));
    return { format: 'config', label: `${label} ${how}`, files: [{ name: 'config.yaml', bytes: concat(utf8(inputs.config.fixed), bytes) }], argv: CHECK('config.yaml') };
  },
  // report and export write into their run folders: they get a copy of the run in the case's folder
  cli: (inputs, random, label) => ({ format: 'cli', label, files: [{ name: 'run/results.json', bytes: readBytes(join(inputs.run, 'results.json')) }], argv: cliArguments(inputs, random) }),
  results: (inputs, random, label) => {
    const { bytes, how } = mutateDocument(random, decode(readBytes(join(inputs.run, 'results.json'))), JSON.parse, (v) => JSON.stringify(v, null, 1));
    const command = random() < 0.6 ? ['report', 'run'] : ['export', 'run'];
    return { format: 'results', label: `${label} ${how}, ${command[0]}`, files: [{ name: 'run/results.json', bytes }], argv: command };
  },
  safetensors: (inputs, random, label) => {
    const src = readBytes(inputs.model);
    const kind = byteKind(random);
    return { format: 'safetensors', label: `${label} ${kind}`, files: [{ name: 'model.safetensors', bytes: mutateBytes(src, safetensorsHeader(src), kind, random) }], argv: ['ask', '--model', 'model.safetensors', ...ASK] };
  },
  hf: (inputs, random, label) => {
    const names = readdirSync(inputs.llava);
    const target = pick(random, names.filter((n) => n.endsWith('.json') || n.endsWith('.safetensors')));
    const files: CaseFile[] = names.map((name) => ({ name: `llava/${name}`, bytes: readBytes(join(inputs.llava, name)) }));
    const file = files.find((f) => f.name === `llava/${target}`)!;
    let how: string;
    if (target.endsWith('.safetensors')) {
      how = byteKind(random);
      file.bytes = mutateBytes(file.bytes, safetensorsHeader(file.bytes), how as (typeof BYTE_KINDS)[number], random);
    } else ({ bytes: file.bytes, how } = mutateDocument(random, decode(file.bytes), JSON.parse, (v) => JSON.stringify(v)));
    return { format: 'hf', label: `${label} ${target} ${how}`, files, argv: ['ask', '--model', 'llava', ...ASK] };
  },
  parquet: (inputs, random, label) => {
    const base = pick(random, inputs.parquet);
    const src = readBytes(base.path);
    const kind = byteKind(random);
    return { format: 'parquet', label: `${label} ${base.name} ${kind}`, files: [{ name: 'split.parquet', bytes: mutateBytes(src, parquetFooter(src), kind, random) }], argv: ['data', 'inspect', 'split.parquet'] };
  },
  tsv: (inputs, random, label) => {
    const src = readBytes(inputs.tsv);
    const kind = byteKind(random);
    return { format: 'tsv', label: `${label} ${kind}`, files: [{ name: 'bench.tsv', bytes: mutateBytes(src, [0, src.indexOf(0x0a) + 1], kind, random) }], argv: ['data', 'inspect', 'bench.tsv'] };
  },
  image: (inputs, random, label) => {
    const [name, path] = random() < 0.5 ? ['face.png', inputs.images.png] : ['face.jpg', inputs.images.jpeg];
    const src = readBytes(path);
    const kind = byteKind(random);
    return { format: 'image', label: `${label} ${name} ${kind}`, files: [{ name, bytes: mutateBytes(src, [0, Math.min(64, src.length)], kind, random) }], argv: ['ask', '--model', inputs.model, '--image', name, ...ASK] };
  },
  plugin: (inputs, random, label) => {
    const base = `plug_${label.match(/\d+/g)!.join('_')}`;
    const method = mutateValue(pluginMethod(base), random) as Record<string, unknown>;
    const loss = random() < 0.9;
    // a command line cannot carry a NUL: such a name is only in the file
    const name = typeof method?.name === 'string' && !method.name.includes('\0') ? method.name : base;
    return { format: 'plugin', label: `${label} ${loss ? '' : 'no loss, '}value`, files: [{ name: 'plugin.mjs', bytes: utf8(pluginSource(method, loss)) }], argv: PLUGIN_CHECK(inputs.config.path, name) };
  },
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A command line from pulse's grammar, with values a careless or hostile user gives. `run` always checks only. */
function cliArguments(inputs: FuzzInputs, random: Random): string[] {
  const values: Record<string, string[]> = {
    '--preset': ['quick', 'paper', 'bogus', ''],
    '--config': [inputs.config.path, 'missing.yaml', '.', inputs.tsv],
    '--seeds': ['0', '0,1', '0x10', '', '-1', '1e3', '0,,1', '99999999999999999999', '0,0', 'a', ','],
    '--methods': ['ga', 'ga,,npo', 'sgd', '', ',', 'ga,npo', '../x', 'rmu,o3'],
    '--scenarios': ['fine_tuned', 'pre_trained,sustainability', 'everything', ''],
    '--attacks': ['all', 'relearn', 'bogus', ''],
    '--threads': ['1', '0', '-2', '1.5', 'x', '1e3', '99999999999'],
    '--out': ['runs/x', '', '/proc/x', '/sys/x', 'a b', `runs/${'a'.repeat(300)}`, 'runs/../..', inputs.tsv],
  };
  const command = pick(random, ['run', 'run', 'report', 'export', 'eval', 'ask', 'inspect', 'junk'] as const);
  const some = (names: string[]) => names.filter(() => random() < 0.5).flatMap((n) => [n, pick(random, values[n]!)]);
  let argv: string[];
  switch (command) {
    case 'run': argv = ['run', '--check', ...some(Object.keys(values))]; break;
    case 'report': argv = ['report', ...pick(random, [['run'], ['missing'], [inputs.tsv], ['run', 'run'], []]),
      ...(random() < 0.3 ? ['--out', pick(random, ['rep', '', 'a b', '/proc/x'])] : [])]; break;
    case 'export': argv = ['export', pick(random, ['run', 'missing', inputs.tsv, '.', ''])]; break;
    case 'eval': argv = ['eval', '--set', pick(random, [inputs.tsv, inputs.parquet[0]!.path, 'x.tsv', 'everything', '', `${inputs.tsv},${inputs.tsv}`]),
      ...(random() < 0.7 ? ['--model', pick(random, [inputs.model, inputs.llava, 'missing', inputs.tsv, '.'])] : []),
      ...(random() < 0.3 ? ['--mode', pick(random, ['letter', 'likelihood', 'both', 'x'])] : []),
      ...(random() < 0.3 ? ['--batch-size', pick(random, values['--threads']!)] : []), ...(random() < 0.3 ? ['--json'] : []), '--threads', '1']; break;
    case 'ask': argv = ['ask', ...(random() < 0.8 ? ['--model', pick(random, [inputs.model, inputs.llava, 'missing', inputs.tsv])] : []),
      ...(random() < 0.8 ? ['--question', pick(random, ['Who?', '', 'x'.repeat(5000)])] : []),
      ...(random() < 0.8 ? ['--options', pick(random, ['a|b', 'a', 'a|b|c|d|e', '|', 'a||b'])] : []),
      ...(random() < 0.4 ? ['--image', pick(random, [inputs.images.png, 'missing.png', inputs.tsv, '.'])] : []),
      ...(random() < 0.2 ? ['--kind', pick(random, ['llava', 'embedded', 'gpt', ''])] : []), ...(random() < 0.3 ? ['--json'] : []), '--threads', '1']; break;
    case 'inspect': argv = ['data', 'inspect', pick(random, [inputs.tsv, inputs.parquet[1]!.path, 'missing', '.', inputs.model, join(inputs.dir, 'dataset')])]; break;
    case 'junk': argv = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(random, ['--bogus', '-x', '', '--', 'run', 'data', '\u00e9', '--help=3', '--version', 'report'])); break;
  }
  if (random() < 0.15) argv.splice(1 + Math.floor(random() * argv.length), 0, pick(random, ['--bogus', '', '-', '--check', '--json']));
  if (argv[0] === 'run' && !argv.includes('--check')) argv.push('--check');
  return argv;
}

/** Hand-made hostile inputs per format, beyond what chance finds. */
const CRAFTED: Record<Format, (inputs: FuzzInputs) => FuzzCase[]> = {
  config: (inputs) => [
    ['__proto__ key', '__proto__:\n  seed: 3\n'],
    ['alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`],
    ['2 MB of YAML', `methods: [${'ga, '.repeat(500_000)}ga]\n`],
    ['huge sizes', 'fine_tune: { people: 100000 }\npre_trained: { keep: 100000 }\n'],
    ['nesting 20000 deep', `methods: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`],
    ['lora layers the model lacks', 'unlearn: { lora: { rank: 4, alpha: 8, dropout: 0, layers: [nonexistent] } }\n'],
  ].map(([what, text]) => ({ format: 'config' as const, label: `crafted: ${what}`, files: [{ name: 'config.yaml', bytes: utf8(`${inputs.config.fixed}${text}`) }], argv: CHECK('config.yaml') })),
  cli: () => [],
  results: (inputs) => {
    const valid = JSON.parse(decode(readBytes(join(inputs.run, 'results.json'))));
    const evil = structuredClone(valid);
    evil.scenarios[0].scenario = '../../../x';
    const id = structuredClone(valid);
    id.run.id = '/tmp/x';
    return [
      ['a scenario named ../../../x', JSON.stringify(evil)], ['a run id that is a path', JSON.stringify(id)],
      ['__proto__', '{"__proto__": {"version": 2}}'], ['deep nesting', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ].map(([what, text]) => ({ format: 'results' as const, label: `crafted: ${what}`, files: [{ name: 'run/results.json', bytes: utf8(text!) }], argv: ['report', 'run'] }));
  },
  safetensors: () => {
    const header = (json: unknown) => {
      const text = utf8(JSON.stringify(json).padEnd(64));
      const out = new Uint8Array(8 + text.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      return out;
    };
    const claim = (floats: number, metadata?: Record<string, string>) => header({ ...(metadata ? { __metadata__: metadata } : {}), w: { dtype: 'F32', shape: [floats], data_offsets: [0, 4 * floats] } });
    const sparse = (label: string, bytes: Uint8Array, floats: number): FuzzCase => ({
      format: 'safetensors', label: `crafted: ${label}`, files: [{ name: 'model.safetensors', bytes, sparseSize: bytes.length + 4 * floats }],
      argv: ['ask', '--model', 'model.safetensors', ...ASK],
    });
    return [
      sparse('a sparse file claiming 7e8 floats, no manifest', claim(700_000_000), 700_000_000),
      sparse('a sparse file claiming 2e8 floats, a manifest that is not JSON', claim(200_000_000, { pulse: '{' }), 200_000_000),
      { format: 'safetensors', label: 'crafted: a header length of 2^63', files: [{ name: 'model.safetensors', bytes: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x80, 0x7b, 0x7d]) }], argv: ['ask', '--model', 'model.safetensors', ...ASK] },
    ];
  },
  hf: (inputs) => {
    const files = readdirSync(inputs.llava).map((name) => ({ name: `llava/${name}`, bytes: readBytes(join(inputs.llava, name)) }));
    const withIndex = (what: string, index: unknown): FuzzCase => ({
      format: 'hf', label: `crafted: ${what}`, argv: ['ask', '--model', 'llava', ...ASK],
      files: files.map((f) => (f.name.endsWith('index.json') ? { name: f.name, bytes: utf8(JSON.stringify(index)) } : f)),
    });
    return [
      withIndex('an index naming ..', { weight_map: { 'lm_head.weight': '..' } }),
      withIndex('an index naming /etc/passwd', { weight_map: { 'lm_head.weight': '/etc/passwd' } }),
      withIndex('an index of a million entries naming one missing shard', { weight_map: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`t${i}`, 'missing.safetensors'])) }),
    ];
  },
  parquet: (inputs) => inputs.parquet.filter((p) => !p.name.includes('UNCOMPRESSED')).flatMap((p) => craftedParquet(readBytes(p.path)).map(({ label, bytes }) => ({
    format: 'parquet' as const, label: `crafted: ${p.name} ${label}`, files: [{ name: 'split.parquet', bytes }], argv: ['data', 'inspect', 'split.parquet'],
  }))),
  tsv: () => [
    { format: 'tsv', label: 'crafted: 600 MB claimed by a sparse file', files: [{ name: 'bench.tsv', bytes: utf8('index\tquestion\n'), sparseSize: 600 << 20 }], argv: ['data', 'inspect', 'bench.tsv'] },
  ],
  image: (inputs) => {
    // a PNG whose header claims 100000 x 100000 pixels (30 GB as RGB), with a valid CRC
    const png = readBytes(inputs.images.png).slice();
    const view = new DataView(png.buffer);
    view.setUint32(16, 100_000);
    view.setUint32(20, 100_000);
    view.setUint32(29, crc32(png.subarray(12, 29)));
    return [{ format: 'image', label: 'crafted: a PNG claiming 100000 x 100000 pixels', files: [{ name: 'face.png', bytes: png }], argv: ['ask', '--model', inputs.model, '--image', 'face.png', ...ASK] }];
  },
  plugin: craftedPlugins,
};

/** Plug-ins that are broken as modules, or export what is not a method, beyond what chance finds. */
function craftedPlugins(inputs: FuzzInputs): FuzzCase[] {
  const cases: [string, string, string][] = [
    ['a syntax error', 'export default {', 'crafted_syntax'],
    ['a module that throws as it loads', 'throw new Error("boom");', 'crafted_throws'],
    ['a module that exports nothing', 'const x = 1;', 'crafted_nothing'],
    ['a method named like a path', pluginSource(pluginMethod('../../x'), true), '../../x'],
    ['a method named like a built-in one', pluginSource(pluginMethod('ga'), true), 'ga'],
    ['two methods of one name', `${pluginSource(pluginMethod('crafted_twice'), true)}export const again = { ...method };\n`, 'crafted_twice'],
    ['a loss that is a string', pluginSource({ ...pluginMethod('crafted_string_loss'), loss: 'x' }, false), 'crafted_string_loss'],
    ['a method whose getter throws', `export default { get name() { throw new Error("no name"); }, loss() {} };\n`, 'crafted_getter'],
    ['PNG bytes', '\u0089PNG\r\n\u001a\n', 'crafted_png'],
  ];
  return cases.map(([what, source, name]) => ({
    format: 'plugin', label: `crafted: ${what}`, files: [{ name: 'plugin.mjs', bytes: utf8(source) }], argv: PLUGIN_CHECK(inputs.config.path, name),
  }));
}

function crc32(bytes: Uint8Array): number {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}
