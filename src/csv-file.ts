import { csvFormat } from 'd3-dsv';
import { writeFileAtomic } from './atomic-file.ts';

export type CsvValue = string | number | boolean | null;

/**
 * Rows as RFC 4180 CSV (d3-dsv's csvFormat) with a header of `columns`, in that order, and a final
 * newline. A null or missing value is an empty cell (read as NA by pandas, R and DuckDB); numbers are
 * written as JavaScript's shortest round-trip form (String(n): full precision, no locale, '.' as
 * decimal point; non-finite numbers as NaN/Infinity/-Infinity); booleans as true/false.
 */
export function toCsv(rows: readonly Record<string, CsvValue>[], columns: readonly string[]): string {
  const cells = rows.map((row) => {
    const out: Record<string, string> = {};
    for (const c of columns) {
      const value = row[c];
      out[c] = value === null || value === undefined ? '' : String(value);
    }
    return out;
  });
  return `${csvFormat(cells, [...columns])}\n`;
}

/** toCsv written atomically (see writeFileAtomic). */
export function writeCsvAtomic(path: string, rows: readonly Record<string, CsvValue>[], columns: readonly string[]): Promise<void> {
  return writeFileAtomic(path, toCsv(rows, columns));
}
