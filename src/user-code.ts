import { fileURLToPath, pathToFileURL } from 'node:url';
import { packagePath } from './paths.ts';

/** pulse's own code: an error thrown there is pulse's; one thrown elsewhere outside node_modules is the user's (a plug-in). */
export const OWN_CODE_URLS = ['src', 'dist', 'bin'].map((dir) => `${pathToFileURL(packagePath(dir)).href}/`);

/**
 * Where in the user's code an error arose ("file:line:col"): its first stack frame outside Node's internals and
 * node_modules, when that frame is not in pulse's own code; null for an error of pulse's.
 */
export function userCodeFrame(error: unknown): string | null {
  const stack = error instanceof Error ? error.stack ?? '' : '';
  for (const [, location, line, column] of stack.matchAll(/((?:file:\/\/)?\/[^\s():]+):(\d+)(?::(\d+))?/g)) {
    const url = location!.startsWith('file:') ? location! : pathToFileURL(location!).href;
    if (url.includes('/node_modules/')) continue;
    if (OWN_CODE_URLS.some((own) => url.startsWith(own))) return null;
    return `${fileURLToPath(url)}:${line}${column ? `:${column}` : ''}`;
  }
  return null;
}
