import { tsvParse, tsvFormat, type DSVRowArray, type DSVRowString } from 'd3-dsv';
import { PulseError, errorExcerpt, excerpt } from '../errors.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { readTextFile } from '../input-file.ts';
import { LETTERS, isLetter, type Letter } from '../text/multiple-choice.ts';

/**
 * MMBench's TSV: index, question, hint, A, B, C, D, answer, category, l2-category, image (base64).
 * Questions may have 2 to 4 options (empty C/D cells). CircularEval copies of a question carry
 * index + k·1,000,000 and the options rotated by k.
 */
export const MMBENCH_COLUMNS = ['index', 'question', 'hint', 'A', 'B', 'C', 'D', 'answer', 'category', 'l2-category', 'image'] as const;
export const CIRCULAR_STRIDE = 1_000_000;

export interface MmbenchItem {
  index: number;
  question: string;
  hint: string;
  /** the options present, in letter order (2 to 4) */
  options: string[];
  answer: Letter;
  category: string;
  l2Category: string;
  /** the encoded image (PNG, JPEG, ...) */
  image: Uint8Array;
}

/** MMBench's dev TSV with its base64 images is about 100 MB; V8 holds at most ~512 M characters in one string. */
const MAX_TSV_BYTES = 400 << 20;

export async function readMmbenchTsv(path: string): Promise<MmbenchItem[]> {
  const text = readTextFile(path, MAX_TSV_BYTES, 'an MMBench TSV', 'cannot read (ENOENT)');
  let rows: DSVRowArray;
  try {
    rows = tsvParse(text);
  } catch (e) {
    throw new PulseError(`${path}: not a readable TSV file (${errorExcerpt(e)})`);
  }
  for (const column of MMBENCH_COLUMNS) {
    if (!rows.columns.includes(column)) {
      throw new PulseError(`${path}: missing column '${column}' (columns: ${excerpt(rows.columns.join(', '), 200)})`);
    }
  }
  if (rows.length === 0) throw new PulseError(`${path}: the split is empty`);
  return rows.map((row, i) => {
    try {
      return readItem(row, (field) => `${path}: row ${i + 1} (index ${excerpt(row.index ?? '')}): field ${field}`);
    } catch (e) {
      // Anything but a row's own PulseError is a failure nobody foresaw; it still names the file and row.
      if (e instanceof PulseError) throw e;
      throw new PulseError(`${path}: row ${i + 1}: cannot be read (${errorExcerpt(e)})`);
    }
  });
}

function readItem(row: DSVRowString, where: (field: string) => string): MmbenchItem {
  const index = Number(row.index);
  if (!Number.isInteger(index)) throw new PulseError(`${where('index')}: '${excerpt(row.index ?? '')}' is not an integer`);
  const options: string[] = [];
  for (const letter of LETTERS) {
    const value = (row[letter] ?? '').trim();
    if (value === '' || value === 'nan') break;
    options.push(value);
  }
  if (options.length < 2) throw new PulseError(`${where('A')}: a question needs at least two options`);
  const answer = (row.answer ?? '').trim();
  if (!isLetter(answer)) throw new PulseError(`${where('answer')}: '${excerpt(answer)}' is not an option letter (A-D)`);
  if (LETTERS.indexOf(answer) >= options.length) throw new PulseError(`${where('answer')}: the answer ${answer} is not among the options`);
  const base64 = (row.image ?? '').trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(base64)) throw new PulseError(`${where('image')}: not base64 image data`);
  return {
    index, question: row.question ?? '', hint: row.hint === 'nan' ? '' : (row.hint ?? ''), options,
    answer, category: row.category ?? '', l2Category: row['l2-category'] ?? '',
    image: new Uint8Array(Buffer.from(base64, 'base64')),
  };
}

export async function writeMmbenchTsv(path: string, items: readonly MmbenchItem[]): Promise<void> {
  const rows = items.map((item) => ({
    index: String(item.index), question: item.question, hint: item.hint,
    A: item.options[0] ?? '', B: item.options[1] ?? '', C: item.options[2] ?? '', D: item.options[3] ?? '',
    answer: item.answer, category: item.category, 'l2-category': item.l2Category,
    image: Buffer.from(item.image).toString('base64'),
  }));
  await writeFileAtomic(path, `${tsvFormat(rows, [...MMBENCH_COLUMNS])}\n`);
}

/** The CircularEval copies of an item: options rotated by k = 0..n-1, index + k·1e6. */
export function circularVariants(item: MmbenchItem): MmbenchItem[] {
  const n = item.options.length;
  const correct = LETTERS.indexOf(item.answer);
  return Array.from({ length: n }, (_, k) => ({
    ...item,
    index: item.index + k * CIRCULAR_STRIDE,
    options: item.options.map((_, i) => item.options[(i + k) % n]!),
    answer: LETTERS[(correct - k + n) % n]!,
  }));
}

/** Groups rotated copies by their original question (index mod 1e6). */
export function circularGroups<T extends { index: number }>(items: readonly T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const key = item.index % CIRCULAR_STRIDE;
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}

/** CircularEval: a question counts as right only if every rotation of it was answered right. */
export function circularAccuracy(items: readonly { index: number }[], correct: readonly boolean[]): number {
  const ok = new Map<number, boolean>();
  items.forEach((item, i) => {
    const key = item.index % CIRCULAR_STRIDE;
    ok.set(key, (ok.get(key) ?? true) && correct[i]!);
  });
  return ok.size === 0 ? 0 : [...ok.values()].filter(Boolean).length / ok.size;
}
