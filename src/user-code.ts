import { fileURLToPath, pathToFileURL } from 'node:url';
import { packagePath } from './paths.ts';

/** pulse's own code: an error thrown there is pulse's; one thrown elsewhere outside node_modules is the user's (a plug-in). */
export const OWN_CODE_URLS = ['src', 'dist', 'bin'].map((dir) => `${pathToFileURL(packagePath(dir)).href}/`);

/** A stack line's location: "at f (file:line:col)", "at file:line:col", or a link error's first line "file:///x.ts:3". */
const LOCATION = /^(?:\s+at (?:.*\()?|)((?:file:\/\/)?\/[^\s():]+):(\d+)(?::(\d+))?\)?$/;

/**
 * Where in the user's code an error arose ("file:line:col"): its first stack frame outside Node's internals (node:...)
 * and node_modules, when that frame is not in pulse's own code; null for an error of pulse's.
 */
export function userCodeFrame(error: unknown): string | null {
  const lines = (error instanceof Error ? error.stack ?? '' : '').split('\n');
  for (const [index, text] of lines.entries()) {
    const match = LOCATION.exec(text);
    if (!match || (index === 0 && !text.startsWith('file:'))) continue;
    const [, location, line, column] = match;
    const url = location!.startsWith('file:') ? location! : pathToFileURL(location!).href;
    if (url.includes('/node_modules/')) continue;
    if (OWN_CODE_URLS.some((own) => url.startsWith(own))) return null;
    return `${fileURLToPath(url)}:${line}${column ? `:${column}` : ''}`;
  }
  return null;
}
