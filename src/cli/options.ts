import { InvalidArgumentError } from '@commander-js/extra-typings';

/**
 * Commander argument parsers that reject bad values with a message naming the option. Values are
 * read as written: decimal digits for integers (no 0x10, 1e3 or +1, which Number() would accept),
 * and no empty item in a list (`ga,,npo` is a slip, not two methods).
 */
export function integer(min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected a decimal integer >= ${min}, got '${value.slice(0, 40)}'`);
    }
    return n;
  };
}

export function list(allowed?: readonly string[]) {
  return (value: string): string[] => {
    const items = value.split(',').map((s) => s.trim());
    if (items.every((i) => i === '')) throw new InvalidArgumentError('expected a comma-separated list');
    if (items.includes('')) throw new InvalidArgumentError(`an empty item in '${value.slice(0, 80)}' (two commas, or one at an end)`);
    if (allowed) for (const i of items) if (!allowed.includes(i)) throw new InvalidArgumentError(`unknown value '${i.slice(0, 40)}' (choose from ${allowed.join(', ')})`);
    return items;
  };
}

/** "0,1,2": distinct non-negative integers. */
export function integerList() {
  return (value: string): number[] => {
    const items = list()(value).map((item) => integer(0)(item));
    if (new Set(items).size !== items.length) throw new InvalidArgumentError(`a seed appears twice in '${value.slice(0, 80)}'`);
    return items;
  };
}
