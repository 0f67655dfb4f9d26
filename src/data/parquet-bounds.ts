import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parquetMetadata, parquetSchema as readSchema } from 'hyparquet';
import type { ColumnChunk, CompressionCodec, DataReader, Encoding, FileMetaData, PageHeader, ParquetType } from 'hyparquet';
// hyparquet's own page-header parser, decompressor and level rules, so that the bounds walk below
// reads each page exactly as the decoder will.
import { parquetHeader } from 'hyparquet/src/column.js';
import { decompressPage } from 'hyparquet/src/datapage.js';
import { getMaxDefinitionLevel, getMaxRepetitionLevel, getSchemaPath } from 'hyparquet/src/schema.js';
import { compressors as libraryCompressors, decompressZstd, type Compressors } from 'hyparquet-compressors';
import { PulseError, errorExcerpt } from '../errors.ts';

/**
 * fzstd sizes its output by the frame's own header (up to 2 GiB) unless it is given a buffer: it gets
 * one of the page's declared size, which checkDeclaredSizes has bounded.
 */
export const safeCompressors: Compressors = { ...libraryCompressors, ZSTD: (input, length) => decompressZstd(input, new Uint8Array(length)) };

// The declared sizes of a Parquet file, checked before hyparquet decodes it.
//
// hyparquet (pinned at 1.31.5; check this walk against a new version) sizes its arrays and loops by
// what a file declares (rows, page sizes, values per page, the run lengths of its level and
// dictionary-index encodings) before it meets the bytes that would contradict them: a corrupt
// count makes it allocate gigabytes or repeat a value billions of times. This walk reads the pages
// the way its decoder does and rejects any such count that the file cannot hold.

/** Beyond this, an uncompressed page must be explained by its codec's ratio. */
const SMALL_PAGE = 64 << 20;
/** Deflate's limit is about 1:1032; zstd and brotli can exceed it only on data unlike a split's. */
const MAX_INFLATION = 4096;
const DICTIONARY_INDICES: readonly Encoding[] = ['PLAIN_DICTIONARY', 'RLE_DICTIONARY'];
/** The value encodings hyparquet's v1 page reader decodes as runs. */
const RUNS_V1: readonly Encoding[] = ['RLE', ...DICTIONARY_INDICES];

interface Column {
  codec: CompressionCodec;
  type: ParquetType;
  /** levels as hyparquet's v1 and v2 page readers see them (v1 skips repetition levels on a bare path) */
  repetitionV1: number;
  repetition: number;
  definition: number;
}

/** A count or size from the file, as a number from 0 to max. */
function declared(value: unknown, max: number, what: string): number {
  if (value === undefined) throw new Error(`missing ${what}`);
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new Error(`impossible ${what}: ${String(value)} (at most ${max})`);
  }
  return n;
}

/**
 * Every count is bounded by the file's length: a split's rows each carry an image, so a real file
 * holds far fewer rows, and values per page, than it has bytes.
 */
export function checkDeclaredSizes(buffer: ArrayBuffer, metadata: FileMetaData): void {
  const limit = buffer.byteLength;
  let rows = 0;
  for (const group of metadata.row_groups) {
    rows += declared(group.num_rows, limit, 'row count of a row group');
    for (const chunk of group.columns) checkChunk(buffer, metadata, chunk);
  }
  if (declared(metadata.num_rows, limit, 'row count') !== rows) {
    throw new Error(`the footer declares ${metadata.num_rows} rows but its row groups hold ${rows}`);
  }
}

function checkChunk(buffer: ArrayBuffer, metadata: FileMetaData, chunk: ColumnChunk): void {
  const meta = chunk.meta_data;
  if (!meta) throw new Error('a column chunk has no metadata');
  const start = declared(meta.dictionary_page_offset || meta.data_page_offset, buffer.byteLength, 'column chunk offset');
  const length = declared(meta.total_compressed_size, buffer.byteLength - start, 'column chunk size');
  const path = getSchemaPath(metadata.schema, meta.path_in_schema);
  const repetition = getMaxRepetitionLevel(path);
  const column: Column = {
    codec: meta.codec, type: meta.type, repetition, repetitionV1: path.length > 1 ? repetition : 0, definition: getMaxDefinitionLevel(path),
  };
  const reader: DataReader = { view: new DataView(buffer, start, length), offset: 0 };
  // hyparquet's readColumn stops at the same place.
  while (reader.offset < length - 1) checkPage(reader, column, buffer.byteLength);
}

function checkPage(reader: DataReader, column: Column, limit: number): void {
  const header = parquetHeader(reader);
  const size = declared(header.compressed_page_size, reader.view.byteLength - reader.offset, 'page size');
  const bytes = new Uint8Array(reader.view.buffer, reader.view.byteOffset + reader.offset, size);
  reader.offset += size;
  declared(header.uncompressed_page_size, Math.max(SMALL_PAGE, MAX_INFLATION * size), 'uncompressed page size');
  if (header.type === 'DATA_PAGE' && header.data_page_header) checkDataPage(bytes, header, column, limit);
  else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) checkDataPageV2(bytes, header, column, limit);
  else if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
    declared(header.dictionary_page_header.num_values, limit, 'dictionary size');
  }
  // Any other page hyparquet rejects by itself, before it allocates anything.
}

const bitWidth = (level: number) => 32 - Math.clz32(level);
const readerOf = (bytes: Uint8Array): DataReader => ({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 });

function checkDataPage(bytes: Uint8Array, header: PageHeader, column: Column, limit: number): void {
  const page = header.data_page_header!;
  const values = declared(page.num_values, limit, 'value count of a page');
  const reader = readerOf(decompressPage(bytes, header.uncompressed_page_size, column.codec, safeCompressors));
  if (column.repetitionV1) checkRuns(reader, bitWidth(column.repetitionV1), values);
  if (column.definition) checkRuns(reader, bitWidth(column.definition), values);
  if (!RUNS_V1.includes(page.encoding)) return;
  // The values are fewer than `values` by the nulls; as an upper bound it still stops every run hyparquet reads.
  if (column.type === 'BOOLEAN') checkRuns(reader, 1, values);
  else if (reader.offset < reader.view.byteLength) {
    const width = reader.view.getUint8(reader.offset++);
    if (width) checkRuns(reader, width, values, reader.view.byteLength - reader.offset);
  }
}

function checkDataPageV2(bytes: Uint8Array, header: PageHeader, column: Column, limit: number): void {
  const page = header.data_page_header_v2!;
  const values = declared(page.num_values, limit, 'value count of a page');
  const nonNull = values - declared(page.num_nulls, values, 'null count of a page');
  const repetitionBytes = declared(page.repetition_levels_byte_length, bytes.length, 'repetition level size');
  const definitionBytes = declared(page.definition_levels_byte_length, bytes.length - repetitionBytes, 'definition level size');
  const levels = readerOf(bytes);
  if (column.repetition) checkRuns(levels, bitWidth(column.repetition), values, repetitionBytes);
  levels.offset = repetitionBytes;
  if (column.definition) checkRuns(levels, bitWidth(column.definition), values, definitionBytes);
  let data = bytes.subarray(levels.offset);
  const size = declared(header.uncompressed_page_size - definitionBytes - repetitionBytes, header.uncompressed_page_size, 'size of values');
  if (page.is_compressed !== false) data = decompressPage(data, size, column.codec, safeCompressors);
  const reader = readerOf(data);
  if (page.encoding === 'RLE') checkRuns(reader, 1, nonNull);
  else if (DICTIONARY_INDICES.includes(page.encoding) && reader.view.byteLength > 0) {
    checkRuns(reader, reader.view.getUint8(reader.offset++), nonNull, size - 1);
  }
}

/**
 * Walks an RLE / bit-packed hybrid run list as hyparquet's readRleBitPackedHybrid reads it (the
 * same varint arithmetic, the same bytes per run). A repeated run is written out in full, past the
 * end of hyparquet's array, so it may not pass the values left. A bit-packed run stops at the end
 * of the array and reads its bytes as it goes, so the page's length bounds it, except at width 0,
 * where hyparquet loops over it without reading a byte. (Writers may pad the last bit-packed run
 * well past the last value: DuckDB pads to 256.) Without `length` the list starts with its byte
 * length, as hyparquet then expects. Running out of bytes ends the walk: the decoder fails there.
 */
function checkRuns(reader: DataReader, width: number, limit: number, length?: number): void {
  const { view } = reader;
  if (length === undefined) {
    if (reader.offset + 4 > view.byteLength) return;
    length = view.getUint32(reader.offset, true);
    reader.offset += 4;
  }
  const start = reader.offset;
  for (let seen = 0; seen < limit && reader.offset < view.byteLength;) {
    let header = 0;
    for (let shift = 0, byte = 0x80; byte & 0x80; shift += 7) {
      if (reader.offset >= view.byteLength) return;
      byte = view.getUint8(reader.offset++);
      header |= (byte & 0x7f) << shift;
    }
    const packed = (header & 1) === 1;
    const run = packed ? (header >> 1) << 3 : header >>> 1;
    // A bit-packed run's count can overflow int32 to a negative one, which hyparquet loops on until the bytes end.
    const most = packed ? (width === 0 ? limit - seen + 7 : Infinity) : limit - seen;
    if (run < 0 || run > most) throw new Error(`a run of ${run} values overruns a page of ${limit}`);
    reader.offset += packed ? Math.max(1, Math.ceil((run * width) / 8)) : (width + 7) >> 3;
    seen += run;
  }
  reader.offset = start + length;
}

/** A Parquet file read into memory, its footer parsed. */
export interface ParquetFile {
  path: string;
  buffer: ArrayBuffer;
  metadata: FileMetaData;
  /** the top-level column names */
  columns: string[];
}

/** Runs a step of the Parquet library: whatever it throws becomes one PulseError naming the file. */
export async function guarded<T>(path: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`${path}: not a readable Parquet file (${errorExcerpt(e)})`);
  }
}

/** Node 20 holds at most 2 GiB in one read: a larger split is read in pieces. */
const READ_CHUNK = 1 << 28;

function readAt(fd: number, into: Uint8Array, position: number, path: string): void {
  for (let filled = 0; filled < into.length;) {
    const read = readSync(fd, into, filled, Math.min(READ_CHUNK, into.length - filled), position + filled);
    if (read === 0) throw new PulseError(`${path}: the file ended at byte ${position + filled} while being read (was it changed?)`);
    filled += read;
  }
}

/**
 * Opens a Parquet file footer first: its magic bytes, the footer's length and the metadata in it are
 * checked against the file's size (every column chunk must lie inside the file) before the rest is
 * read, so a file that only claims to be large costs its footer.
 */
export async function openParquet(path: string): Promise<ParquetFile> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new PulseError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? errorExcerpt(e)})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new PulseError(`${path}: not a regular file`);
    const size = stat.size;
    const notParquet = (why: string) => new PulseError(`${path}: not a Parquet file (${why})`);
    if (size < 12) throw notParquet(`${size} bytes, too short for a Parquet header and footer`);
    const tail = new Uint8Array(8);
    readAt(fd, tail, size - 8, path);
    const view = new DataView(tail.buffer);
    if (view.getUint32(4, true) !== 0x31524150) throw notParquet('it does not end with PAR1');
    const footer = view.getUint32(0, true);
    if (footer > size - 12) throw new PulseError(`${path}: not a readable Parquet file (its footer claims ${footer} bytes; the file has ${size})`);
    const footerBytes = new Uint8Array(footer + 8);
    readAt(fd, footerBytes, size - 8 - footer, path);
    const metadata = await guarded(path, () => parquetMetadata(footerBytes.buffer));
    await guarded(path, () => checkChunksInside(metadata, size - 8 - footer));
    const bytes = new Uint8Array(size);
    readAt(fd, bytes, 0, path);
    const columns = await guarded(path, () => readSchema(metadata).children.map((c) => String(c.element.name)));
    return { path, buffer: bytes.buffer, metadata, columns };
  } catch (e) {
    if (e instanceof PulseError) throw e;
    throw new PulseError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? errorExcerpt(e)})`);
  } finally {
    closeSync(fd);
  }
}

/** Every column chunk the footer lists lies within the data before the footer. */
function checkChunksInside(metadata: FileMetaData, dataEnd: number): void {
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (!meta) continue;
      const start = declared(meta.dictionary_page_offset || meta.data_page_offset, dataEnd, 'column chunk offset');
      declared(meta.total_compressed_size, dataEnd - start, 'column chunk size');
    }
  }
}
