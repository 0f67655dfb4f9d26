/**
 * Small valid MLLMU-Bench people and MMBench items (4 x 4 images), the seeds of the fuzzers' Parquet and
 * TSV files. Light imports only: test/data/fuzz.test.ts loads this in its reader process too.
 */
import { encodePng } from '../../src/data/images.ts';
import type { ChoiceItem, MllmuRow, MllmuTestRow } from '../../src/data/mllmu.ts';
import type { MmbenchItem } from '../../src/data/mmbench.ts';

export const pixels = (seed: number, size = 4) => Uint8Array.from({ length: size * size * 3 }, (_, i) => (seed * 31 + i * 7) & 0xff);
const choice = (k: number, answer: string): ChoiceItem =>
  ({ Question: `Question ${k}?`, Options: { A: `a${k}`, B: `b${k}`, C: `c${k}`, D: `d${k}` }, Correct_Answer: answer });

export async function people(n: number, prefix = 'f'): Promise<{ rows: MllmuRow[]; tests: MllmuTestRow[] }> {
  const rows: MllmuRow[] = [];
  const tests: MllmuTestRow[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${String(i + 1).padStart(3, '0')}`;
    const common = {
      ID: id, biography: `Person ${i} was born somewhere and works as something.`, question: 'Who is this person?', answer: `Name ${i}`,
      Classification_Task: { Image_Textual_Questions: [choice(0, 'A'), choice(1, 'C')], Pure_Text_Questions: [choice(2, 'D')] },
      Generation_Task: [{ Question: `What does ${id} do?`, Ground_Truth: 'something', Type: 'Pure_Text' as const }],
      Mask_Task: [{ Question: `${id} works as a __.`, Ground_Truth: 'something', Type: 'Image_Textual' as const }],
    };
    rows.push({ image: { bytes: await encodePng(pixels(i), 4), path: `${id}.png` }, ...common });
    const views = [1, 2].map(async (k) => ({ bytes: await encodePng(pixels(i + 10 * k), 4), path: `${id}_${k}.png` }));
    tests.push({ images: await Promise.all(views), ...common });
  }
  return { rows, tests };
}

export async function benchmark(n: number): Promise<MmbenchItem[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => ({
    index: i, question: `How many shapes, case ${i}?`, hint: i % 2 ? '' : 'look closely',
    options: i % 3 ? ['one', 'two', 'three', 'four'] : ['yes', 'no'],
    answer: 'B' as const, category: 'counting', l2Category: 'perception', image: await encodePng(pixels(100 + i), 4),
  })));
}

