import { statSync } from 'node:fs';
import { join } from 'node:path';
import { PulseError } from '../errors.ts';
import { readMllmuParquet, readMllmuSplit, readMllmuTestParquet, type MllmuRow, type MllmuTestRow } from './mllmu.ts';
import { readMmbenchTsv, type MmbenchItem } from './mmbench.ts';
import { WORLD_FILES, readWorldManifest } from './world-files.ts';

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
    if (!manifest) throw new PulseError(`${path} holds no manifest.json (not a pulse world folder)`);
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
