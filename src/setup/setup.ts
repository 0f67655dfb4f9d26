import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { findLibtorch, type Libtorch } from '../../scripts/libtorch-config.mjs';
import { writeFileAtomicSync } from '../atomic-file.ts';
import { PulseError, errorExcerpt } from '../errors.ts';
import { PACKAGE_ROOT, cachePath, packagePath } from '../paths.ts';
import { addonSources, PACKAGE_ADDON, PACKAGE_STAMP, cachedBuildDir, installRecordPath, locateAddon, sourcesHash } from './addon-files.ts';

export type { Libtorch };

/** How to get a libtorch, for the message when there is none. */
export const LIBTORCH_HELP = 'install Debian\'s (sudo apt-get install libtorch-dev libopenblas0-openmp), or a torch wheel in a Python '
  + 'environment and point PULSE_PYTHON at it (python3 -m venv ~/.venv-torch && ~/.venv-torch/bin/pip install torch '
  + '--index-url https://download.pytorch.org/whl/cpu, then PULSE_PYTHON=~/.venv-torch/bin/python npx pulse setup), or set '
  + 'LIBTORCH to an unpacked libtorch from pytorch.org (a folder with include/ and lib/)';

export type AddonState = 'up to date' | 'copied from the cache' | 'found in the cache' | 'built' | 'missing' | 'outdated';

export interface AddonStatus {
  path: string;
  /** the package folder (writable), or the per-user cache (the package folder is read-only) */
  where: 'package' | 'cache';
  state: AddonState;
}

/** What the loaded addon reports. */
export interface AddonRuntime { version: string; cuda: boolean; threads: number; blas: string }

export interface SetupReport {
  libtorch: Libtorch;
  /** names the addon's sources and the libtorch: a build in the cache is reused for the same key */
  key: string;
  addon: AddonStatus;
  /** null when the addon is not there, or could not be loaded (loadError says why) */
  runtime: AddonRuntime | null;
  loadError?: string;
}

function libtorchFound(): Libtorch {
  let found: Libtorch | null;
  try {
    found = findLibtorch();
  } catch (e) {
    throw new PulseError(errorExcerpt(e));
  }
  if (!found) throw new PulseError(`no libtorch found (looked at $LIBTORCH, the torch package of $PULSE_PYTHON or python3, /usr): ${LIBTORCH_HELP}`);
  return found;
}

/** The cache key of a build: the addon's sources and the libtorch (version, CPU or CUDA, folder and C++ ABI). */
export function buildKey(libtorch: Libtorch): string {
  const where = createHash('sha256').update(`${libtorch.lib}\n${libtorch.abi}`).digest('hex').slice(0, 8);
  return `${sourcesHash()}-${libtorch.version}-${libtorch.cuda ? 'cuda' : 'cpu'}-${where}`;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const readText = (path: string): string | null => {
  try { return readFileSync(path, 'utf8').trim(); } catch { return null; }
};

function recordedAddon(): string | null {
  try { return (JSON.parse(readFileSync(installRecordPath(), 'utf8')) as { addon?: string }).addon ?? null; } catch { return null; }
}

function status(key: string): AddonStatus {
  const cached = join(cachedBuildDir(key), 'pulse_torch.node');
  if (writable(packagePath('native'))) {
    const current = existsSync(PACKAGE_ADDON) && readText(PACKAGE_STAMP) === key;
    return { path: PACKAGE_ADDON, where: 'package', state: current ? 'up to date' : existsSync(PACKAGE_ADDON) ? 'outdated' : 'missing' };
  }
  const current = existsSync(cached) && recordedAddon() === cached;
  return { path: cached, where: 'cache', state: current ? 'up to date' : locateAddon() ? 'outdated' : 'missing' };
}

/** node-gyp rebuild in `dir` (which holds binding.gyp), its output in `logFile`. */
async function nodeGyp(dir: string, logFile: string, log: (line: string) => void): Promise<void> {
  const script = createRequire(packagePath('package.json')).resolve('node-gyp/bin/node-gyp.js');
  const args = [script, 'rebuild', '--jobs', String(Math.min(4, availableParallelism()))];
  // Node's own headers, where this Node ships them, so that node-gyp need not download them (npm passes its nodedir).
  const prefix = resolve(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
  // binding.gyp calls scripts/libtorch-config.mjs, its sibling in the package, or the package's from a copy in the cache.
  const env = { ...process.env, GYP_DEFINES: [process.env.GYP_DEFINES, `pulse_scripts=${packagePath('scripts')}`].filter(Boolean).join(' ') };
  mkdirSync(dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'w');
  log(`building the addon (a minute or two: libtorch's headers are large); log: ${logFile}`);
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', out, out] });
    child.on('error', fail);
    child.on('exit', done);
  }).finally(() => closeSync(out));
  if (code !== 0) {
    const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n');
    process.stderr.write(`${tail}\n`);
    throw new PulseError(`the addon build failed (node-gyp exit status ${code}): the lines above are the end of ${logFile}`);
  }
}

/** Copies a built addon so that a process that has the old one loaded keeps it (a new file renamed over the old). */
function place(from: string, to: string): void {
  writeFileAtomicSync(to, readFileSync(from));
}

/** A copy of the package's addon in the cache, for other installs of this pulse on the same libtorch (best effort). */
function keepInCache(key: string, log: (line: string) => void): void {
  const cached = join(cachedBuildDir(key), 'pulse_torch.node');
  if (existsSync(cached) || !existsSync(PACKAGE_ADDON)) return;
  try {
    place(PACKAGE_ADDON, cached);
  } catch (e) {
    log(`could not keep a copy in the cache (${errorExcerpt(e)}); other installs will build their own`);
  }
}

/** Builds (or copies from the cache) the addon where `status` says it belongs. */
async function provide(key: string, addon: AddonStatus, log: (line: string) => void): Promise<AddonState> {
  const cacheDir = cachedBuildDir(key);
  const cached = join(cacheDir, 'pulse_torch.node');
  if (addon.where === 'package') {
    if (existsSync(cached)) {
      place(cached, PACKAGE_ADDON);
      writeFileAtomicSync(PACKAGE_STAMP, `${key}\n`);
      return 'copied from the cache';
    }
    await nodeGyp(packagePath('native'), packagePath('native', 'build.log'), log);
    writeFileAtomicSync(PACKAGE_STAMP, `${key}\n`);
    return 'built';
  }
  let state: AddonState = 'found in the cache';
  if (!existsSync(cached)) {
    // A copy of the addon's sources in a fresh folder per build, so two setups at once do not build into each other.
    mkdirSync(cachePath('addon'), { recursive: true });
    const buildDir = mkdtempSync(join(cachePath('addon'), 'build-'));
    try {
      for (const name of addonSources()) place(packagePath('native', name), join(buildDir, name));
      await nodeGyp(buildDir, join(cacheDir, 'build.log'), log);
      place(join(buildDir, 'build', 'Release', 'pulse_torch.node'), cached);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    state = 'built';
  }
  writeFileAtomicSync(installRecordPath(), `${JSON.stringify({ addon: cached, key, package: PACKAGE_ROOT }, null, 2)}\n`);
  return state;
}

/** The BLAS libraries this process has mapped (Linux): which one libtorch's matmul calls. */
function blasInUse(): string {
  let maps: string;
  try { maps = readFileSync('/proc/self/maps', 'utf8'); } catch { return 'unknown (no /proc/self/maps)'; }
  const libs = [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((p) => /\/lib(open)?blas[^/]*\.so|\/libmkl_[^/]*\.so|\/libflexiblas[^/]*\.so/.test(p)))];
  if (libs.length === 0) return 'none as a shared library (built into libtorch, e.g. MKL)';
  const named = libs.find((p) => /openblas|mkl|flexiblas/.test(p)) ?? libs[0]!;
  const reference = !libs.some((p) => /openblas|mkl|flexiblas/.test(p));
  return reference ? `${named} (the reference BLAS: matmul ~25x slower; sudo apt-get install libopenblas0-openmp)` : named;
}

function runtimeOf(path: string): AddonRuntime {
  const addon = createRequire(import.meta.url)(path) as { version(): string; cudaAvailable(): boolean; getNumThreads(): number };
  return { version: addon.version(), cuda: addon.cudaAvailable(), threads: addon.getNumThreads(), blas: blasInUse() };
}

/**
 * `pulse setup`: finds libtorch, makes sure the addon is built against it (built, or copied from the cache when
 * another install of this pulse built it for the same libtorch), and loads it to report what it runs on. With
 * `check`, only reports. Fast when nothing changed: a look for libtorch and a hash of the addon's sources.
 */
export async function setup(options: { check?: boolean; log?: (line: string) => void } = {}): Promise<SetupReport> {
  const log = options.log ?? (() => {});
  const libtorch = libtorchFound();
  const key = buildKey(libtorch);
  const addon = status(key);
  if (!options.check && addon.state !== 'up to date') addon.state = await provide(key, addon, log);
  if (!options.check && addon.where === 'package') keepInCache(key, log);
  if (addon.state === 'missing' || addon.state === 'outdated') return { libtorch, key, addon, runtime: null };
  try {
    return { libtorch, key, addon, runtime: runtimeOf(addon.path) };
  } catch (e) {
    return { libtorch, key, addon, runtime: null, loadError: errorExcerpt(e) };
  }
}
