/**
 * A small description language for nested Parquet schemas, flattened into the SchemaElement
 * list hyparquet-writer takes. Lists use the standard three-level layout
 * (<name> LIST / repeated `list` / `element`), as pyarrow and Hugging Face datasets write them.
 */
export type Field =
  | { kind: 'string' }
  | { kind: 'binary' }
  | { kind: 'struct'; fields: Record<string, Field> }
  | { kind: 'list'; of: Field };

export const string: Field = { kind: 'string' };
export const binary: Field = { kind: 'binary' };
export const struct = (fields: Record<string, Field>): Field => ({ kind: 'struct', fields });
export const list = (of: Field): Field => ({ kind: 'list', of });

export interface SchemaElement {
  name: string;
  type?: 'BYTE_ARRAY';
  converted_type?: 'UTF8' | 'LIST';
  repetition_type?: 'OPTIONAL' | 'REPEATED' | 'REQUIRED';
  num_children?: number;
}

function flatten(name: string, field: Field): SchemaElement[] {
  switch (field.kind) {
    case 'string': return [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }];
    case 'binary': return [{ name, type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' }];
    case 'struct': {
      const entries = Object.entries(field.fields);
      return [{ name, repetition_type: 'OPTIONAL', num_children: entries.length }, ...entries.flatMap(([n, f]) => flatten(n, f))];
    }
    case 'list': return [
      { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      ...flatten('element', field.of),
    ];
  }
}

export function parquetSchema(columns: Record<string, Field>): SchemaElement[] {
  const entries = Object.entries(columns);
  return [{ name: 'root', num_children: entries.length }, ...entries.flatMap(([n, f]) => flatten(n, f))];
}
