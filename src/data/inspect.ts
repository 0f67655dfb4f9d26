import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PulseError } from '../errors.ts';
import { readMllmuParquet, readMllmuSplit, readMllmuTestParquet, type MllmuRow, type MllmuTestRow } from './mllmu.ts';
import { readMmbenchTsv, type MmbenchItem } from './mmbench.ts';
import { WORLD_FILES, readWorldManifest } from './world-files.ts';
import { splitShards } from './protocol-data.ts';

function describeMllmu(name: string, rows: readonly (MllmuRow | MllmuTestRow)[]): string {
  const mm = rows.reduce((n, r) => n + r.Classification_Task.Image_Textual_Questions.length, 0);
  const text = rows.reduce((n, r) => n + r.Classification_Task.Pure_Text_Questions.length, 0);
  const images = rows.reduce((n, r) => n + ('images' in r ? r.images.length : 1), 0);
  return `${name}: ${rows.length} people, ${images} images, ${mm} multimodal + ${text} text-only questions, ${rows.reduce((n, r) => n + r.Generation_Task.length, 0)} generation and ${rows.reduce((n, r) => n + r.Mask_Task.length, 0)} cloze items`;
}

function describeMmbench(name: string, items: readonly MmbenchItem[]): string {
  const categories = new Map<string, number>();
  for (const i of items) categories.set(i.category, (categories.get(i.category) ?? 0) + 1);
  return `${name}: ${items.length} multimodal questions (${[...categories].map(([c, n]) => `${c} ${n}`).join(', ')})`;
}

function sample(row: MllmuRow | MllmuTestRow | MmbenchItem): string {
  return JSON.stringify(row, (key, value) => (value instanceof Uint8Array ? `<${value.length} bytes>` : value), 2);
}

/** A human summary of a dataset path: counts per split and modality, and one record. */
export async function inspectPath(path: string): Promise<string> {
  let stat;
  try { stat = statSync(path); } catch { throw new PulseError(`${path} does not exist`); }
  if (stat.isDirectory()) {
    const manifest = readWorldManifest(path);
    if (!manifest) return inspectFolder(path);
    const fictitious = await readMllmuParquet(join(path, WORLD_FILES.fictitious));
    const lines = [
      `world seed ${manifest.seed}, version ${manifest.version}, hash ${manifest.hash}`,
      describeMllmu('Full_Set (fictitious)', fictitious),
      describeMllmu('Retain_Set (celebrities)', await readMllmuParquet(join(path, WORLD_FILES.celebrities))),
      describeMllmu('Test_Set', await readMllmuTestParquet(join(path, WORLD_FILES.test))),
      describeMmbench('MMBench', await readMmbenchTsv(join(path, WORLD_FILES.benchmark))),
      `one record (Full_Set):`,
      sample(fictitious[0]!),
    ];
    return lines.join('\n');
  }
  if (path.endsWith('.parquet')) {
    const { rows } = await readMllmuSplit(path);
    return `${describeMllmu(path, rows)}\none record:\n${sample(rows[0]!)}`;
  }
  if (path.endsWith('.tsv')) {
    const items = await readMmbenchTsv(path);
    return `${describeMmbench(path, items)}\none record:\n${sample(items[0]!)}`;
  }
  throw new PulseError(`${path}: expected a world folder, a .parquet file or a .tsv file`);
}

/** A split's folder (MLLMU-Bench's layout: `train-00000-of-00001.parquet` shards), or null for any other folder. */
function shardsOf(dir: string): string[] | null {
  try {
    return readdirSync(dir).some((f) => SHARD.test(f)) ? splitShards(dir) : null;
  } catch (e) {
    if (e instanceof PulseError) throw e;
    return null;
  }
}

const SHARD = /^train-\d+-of-\d+\.parquet$/;

/**
 * A folder without a pulse manifest: MLLMU-Bench as published (one folder per split: Full_Set,
 * Retain_Set, Test_Set, forget_*, ...), a single split's folder, and any MMBench-style .tsv beside them.
 */
async function inspectFolder(path: string): Promise<string> {
  const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  const splits: [string, string[]][] = [];
  const own = shardsOf(path);
  if (own) splits.push([basename(path), own]);
  for (const e of entries) {
    const shards = e.isDirectory() ? shardsOf(join(path, e.name)) : null;
    if (shards) splits.push([e.name, shards]);
  }
  const tsvs = entries.filter((e) => e.isFile() && e.name.endsWith('.tsv')).map((e) => join(path, e.name));
  if (splits.length === 0 && tsvs.length === 0) {
    throw new PulseError(`${path} holds no pulse world (manifest.json), no MLLMU-Bench split (train-*-of-*.parquet) and no .tsv file`);
  }
  const lines = [`${path}: ${splits.length} MLLMU-Bench split${splits.length === 1 ? '' : 's'}${tsvs.length ? `, ${tsvs.length} TSV file${tsvs.length === 1 ? '' : 's'}` : ''} (no pulse manifest)`];
  let first: MllmuRow | MllmuTestRow | undefined;
  for (const [name, shards] of splits) {
    const rows: (MllmuRow | MllmuTestRow)[] = [];
    for (const shard of shards) rows.push(...(await readMllmuSplit(shard)).rows);
    first ??= rows[0];
    lines.push(describeMllmu(name, rows));
  }
  for (const tsv of tsvs) lines.push(describeMmbench(basename(tsv), await readMmbenchTsv(tsv)));
  if (first) lines.push(`one record (${splits[0]![0]}):`, sample(first));
  return lines.join('\n');
}
