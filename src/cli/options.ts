import { InvalidArgumentError } from '@commander-js/extra-typings';

/** Commander argument parsers that reject bad values with a message naming the option. */
export function integer(min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    return n;
  };
}

export function list(allowed?: readonly string[]) {
  return (value: string): string[] => {
    const items = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list');
    if (allowed) for (const i of items) if (!allowed.includes(i)) throw new InvalidArgumentError(`unknown value '${i}' (choose from ${allowed.join(', ')})`);
    return items;
  };
}

/** "0,1,2": distinct non-negative integers. */
export function integerList() {
  return (value: string): number[] => {
    const items = list()(value).map((item) => integer(0)(item));
    if (new Set(items).size !== items.length) throw new InvalidArgumentError(`a seed appears twice in '${value}'`);
    return items;
  };
}
