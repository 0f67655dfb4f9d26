import { createRequire } from 'node:module';

/** pulse's version, from package.json: what results, run folders and `pulse --version` report. */
export const PULSE_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
