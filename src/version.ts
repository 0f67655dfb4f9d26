import { createRequire } from 'node:module';

const manifest = createRequire(import.meta.url)('../package.json') as { name: string; version: string };

/** pulse's version, from package.json: what results, run folders and `pulse --version` report. */
export const PULSE_VERSION: string = manifest.version;

/** The package's name on the registry (plug-ins may import it by this name, or as 'pulse'). */
export const PACKAGE_NAME: string = manifest.name;
