import type { z } from 'zod';

/**
 * An error caused by the user's input or environment (a bad config, a malformed dataset row, a
 * missing file): the CLI prints its message alone, without a stack trace. Messages name the
 * problem and the place (file, row, field, config key).
 */
export class PulseError extends Error {
  override name = 'PulseError';
}

/**
 * The first problem zod found, as one phrase that names the place: "a.b: expected number,
 * received string", or "unknown key 'a.c'" for a key the schema does not have. `at` is the path
 * of the validated value inside a larger document.
 */
export function describeZodError(error: z.ZodError, at: readonly string[] = []): string {
  const issue = error.issues[0]!;
  // keys come from the file: a hostile one can be megabytes long or hold newlines
  const path = [...at, ...issue.path.map((p) => excerpt(String(p), 60))];
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.slice(0, 5).map((k) => `'${[...path, excerpt(k, 60)].join('.')}'`);
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}${issue.keys.length > 5 ? ', ...' : ''}`;
  }
  return `${path.join('.') || '(top level)'}: ${excerpt(issue.message, 200)}`;
}

/**
 * A value from a file inside a message, as one bounded line: names and values decoded from a
 * corrupt file can be megabytes long and hold newlines or terminal escapes.
 */
export function excerpt(text: string, max = 40): string {
  const line = text.split('\n')[0]!.replace(/\p{Cc}/gu, '?');
  return line.length > max || line.length < text.length ? `${line.slice(0, max)}...` : line;
}

/** What a library's error said, as one bounded line: its messages can quote whole decoded structures. */
export function errorExcerpt(e: unknown): string {
  return excerpt((e instanceof Error ? e.message || e.name : String(e)).trim(), 200);
}
