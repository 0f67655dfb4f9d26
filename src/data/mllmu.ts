import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { z } from 'zod';
import { PulseError, describeZodError, errorExcerpt, excerpt } from '../errors.ts';
import { checkDeclaredSizes, guarded, openParquet, safeCompressors as compressors, type ParquetFile } from './parquet-bounds.ts';
import { binary, list, parquetSchema, string, struct } from './parquet-schema.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { isLetter } from '../text/multiple-choice.ts';

/**
 * MLLMU-Bench as published on Hugging Face (MLLMMU/MLLMU-Bench), one Parquet file per config:
 * Full_Set / ft_Data (fictitious people), forget_*, retain_*, Retain_Set (real celebrities) rows
 * carry one `image`; Test_Set rows carry an `images` list.
 */
const Image = z.object({ bytes: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected image bytes'), path: z.string().nullable().optional() });
const Options = z.object({ A: z.string(), B: z.string(), C: z.string(), D: z.string() });
const ChoiceItem = z.object({ Question: z.string(), Options, Correct_Answer: z.string() });
const OpenItem = z.object({ Question: z.string(), Ground_Truth: z.string(), Type: z.enum(['Image_Textual', 'Pure_Text']) });
const Base = {
  ID: z.union([z.string(), z.number(), z.bigint()]).transform(String),
  biography: z.string(),
  question: z.string(),
  answer: z.string(),
  Classification_Task: z.object({ Image_Textual_Questions: z.array(ChoiceItem), Pure_Text_Questions: z.array(ChoiceItem) }),
  Generation_Task: z.array(OpenItem),
  Mask_Task: z.array(OpenItem),
};
export const MllmuRow = z.object({ image: Image, ...Base });
export const MllmuTestRow = z.object({ images: z.array(Image).min(1), ...Base });
export type MllmuRow = z.infer<typeof MllmuRow>;
export type MllmuTestRow = z.infer<typeof MllmuTestRow>;
export type ChoiceItem = z.infer<typeof ChoiceItem>;
export type OpenItem = z.infer<typeof OpenItem>;

const IMAGE = struct({ bytes: binary, path: string });
const CHOICES = list(struct({ Question: string, Options: struct({ A: string, B: string, C: string, D: string }), Correct_Answer: string }));
const OPEN = list(struct({ Question: string, Ground_Truth: string, Type: string }));
const COMMON = {
  ID: string, biography: string, question: string, answer: string,
  Classification_Task: struct({ Image_Textual_Questions: CHOICES, Pure_Text_Questions: CHOICES }),
  Generation_Task: OPEN, Mask_Task: OPEN,
};
const SCHEMA = parquetSchema({ image: IMAGE, ...COMMON });
const TEST_SCHEMA = parquetSchema({ images: list(IMAGE), ...COMMON });

export type Codec = 'SNAPPY' | 'UNCOMPRESSED';

function write(path: string, schema: ReturnType<typeof parquetSchema>, rows: readonly Record<string, unknown>[], codec: Codec): Promise<void> {
  const columns = schema.slice(1).filter((_, i, all) => isTopLevel(schema, i + 1)).map((e) => e.name);
  const buffer = parquetWriteBuffer({
    columnData: columns.map((name) => ({ name, data: rows.map((r) => r[name]) })),
    schema: schema as never,
    codec,
    createdBy: 'pulse',
  });
  return writeFileAtomic(path, new Uint8Array(buffer));
}

/** Whether schema element i is a direct child of the root (a column). */
function isTopLevel(schema: ReturnType<typeof parquetSchema>, i: number): boolean {
  let k = 1;
  const skip = (): void => {
    const n = schema[k]!.num_children ?? 0;
    k++;
    for (let c = 0; c < n; c++) skip();
  };
  while (k < schema.length) {
    if (k === i) return true;
    if (k > i) return false;
    skip();
  }
  return false;
}

export function writeMllmuParquet(path: string, rows: readonly MllmuRow[], codec: Codec = 'SNAPPY'): Promise<void> {
  return write(path, SCHEMA, rows as unknown as Record<string, unknown>[], codec);
}
export function writeMllmuTestParquet(path: string, rows: readonly MllmuTestRow[], codec: Codec = 'SNAPPY'): Promise<void> {
  return write(path, TEST_SCHEMA, rows as unknown as Record<string, unknown>[], codec);
}

const REQUIRED = ['ID', 'biography', 'question', 'answer', 'Classification_Task', 'Generation_Task', 'Mask_Task'];

type RawRow = Record<string, unknown>;

async function decodeRows({ path, buffer, metadata, columns }: ParquetFile, imageColumn: 'image' | 'images'): Promise<RawRow[]> {
  for (const column of [imageColumn, ...REQUIRED]) {
    if (!columns.includes(column)) throw new PulseError(`${path}: missing column '${column}' (columns: ${excerpt(columns.join(', '), 300)})`);
  }
  // Before the decoder sizes anything by them: a corrupt count or size could make it allocate or loop without end.
  await guarded(path, () => checkDeclaredSizes(buffer, metadata));
  if (Number(metadata.num_rows) === 0) throw new PulseError(`${path}: the split is empty`);
  // utf8 off: binary image bytes stay bytes; UTF8-annotated columns are still decoded as text.
  return guarded(path, () => parquetReadObjects({ file: buffer, metadata, compressors, utf8: false }) as Promise<RawRow[]>);
}

function validate<T>(schema: z.ZodType<T>, row: unknown, path: string, index: number): T {
  const result = schema.safeParse(row);
  if (!result.success) throw new PulseError(`${path}: row ${index}: field ${describeZodError(result.error)}`);
  const value = result.data as unknown as { Classification_Task: { Image_Textual_Questions: ChoiceItem[]; Pure_Text_Questions: ChoiceItem[] } };
  for (const group of ['Image_Textual_Questions', 'Pure_Text_Questions'] as const) {
    value.Classification_Task[group].forEach((q, k) => {
      const field = `Classification_Task.${group}.${k}.Correct_Answer`;
      const answer = q.Correct_Answer;
      const where = `${path}: row ${index}: field ${field}`;
      if (!isLetter(answer)) throw new PulseError(`${where}: '${excerpt(answer)}' is not an option letter (A-D)`);
      if (!q.Options[answer]) throw new PulseError(`${where}: the answer ${answer} is not among the options`);
    });
  }
  return result.data;
}

const validateAll = <T>(schema: z.ZodType<T>, rows: readonly unknown[], path: string): T[] =>
  rows.map((row, i) => validate(schema, row, path, i));

export async function readMllmuParquet(path: string): Promise<MllmuRow[]> {
  return validateAll(MllmuRow, await decodeRows(await openParquet(path), 'image'), path);
}

export async function readMllmuTestParquet(path: string): Promise<MllmuTestRow[]> {
  return validateAll(MllmuTestRow, await decodeRows(await openParquet(path), 'images'), path);
}

/** A split of either layout: one image per person, or the Test_Set's list of views. */
export type MllmuSplit = { layout: 'person'; rows: MllmuRow[] } | { layout: 'test'; rows: MllmuTestRow[] };

/** Reads a split whose layout is not known in advance, telling the two apart by the Test_Set's `images` column. */
export async function readMllmuSplit(path: string): Promise<MllmuSplit> {
  const file = await openParquet(path);
  if (file.columns.includes('images')) return { layout: 'test', rows: validateAll(MllmuTestRow, await decodeRows(file, 'images'), path) };
  return { layout: 'person', rows: validateAll(MllmuRow, await decodeRows(file, 'image'), path) };
}
