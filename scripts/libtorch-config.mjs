#!/usr/bin/env node
// Finds a libtorch to build the addon against and prints one piece of its build settings.
// Order: $LIBTORCH (a directory with include/ and lib/), the `torch` Python package's bundled
// libtorch ($PULSE_PYTHON or python3), then a system install (Debian's libtorch-dev).
// binding.gyp calls this at configure time; `pulse setup` (src/setup/) imports it, and scripts/setup.sh calls
// `describe` to decide whether to install Debian's libtorch. Plain JavaScript: it runs before anything is built.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function fromDir(root, source) {
  const include = join(root, 'include');
  const lib = join(root, 'lib');
  if (!existsSync(join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  if (!existsSync(join(lib, 'libtorch.so')) && !existsSync(join(lib, 'libtorch.dylib'))) return null;
  return { source, include: [include, join(include, 'torch', 'csrc', 'api', 'include')], lib };
}

function fromPython() {
  const candidates = [process.env.PULSE_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const python of candidates) {
    try {
      const out = execFileSync(python, ['-c',
        'import torch, os; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.__version__)'],
        { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim().split('\n');
      const found = fromDir(out[0], `python torch ${out[2]} (${python})`);
      if (found) return { ...found, abi: out[1] };
    } catch { /* no torch for this interpreter */ }
  }
  return null;
}

function fromSystem() {
  const include = '/usr/include';
  if (!existsSync(join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  for (const lib of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']) {
    if (existsSync(join(lib, 'libtorch.so'))) {
      return { source: 'system libtorch (Debian libtorch-dev)', include: [include, join(include, 'torch', 'csrc', 'api', 'include')], lib, abi: '1' };
    }
  }
  return null;
}

/** The libtorch headers' version (torch/version.h, or the header-only one it includes since 2.9), e.g. "2.7.1". */
function versionOf(include) {
  for (const header of [join(include[1], 'torch', 'version.h'), join(include[0], 'torch', 'headeronly', 'version.h')]) {
    const text = existsSync(header) ? readFileSync(header, 'utf8') : '';
    const parts = ['MAJOR', 'MINOR', 'PATCH'].map((name) => text.match(new RegExp(`#define TORCH_VERSION_${name} (\\d+)`))?.[1]);
    if (parts.every(Boolean)) return parts.join('.');
  }
  return 'unknown';
}

/**
 * The libtorch to build against, with what the build needs to know of it: { source, include, lib, version, cuda, abi };
 * null when there is none. Throws when $LIBTORCH names a folder that holds no libtorch.
 */
export function findLibtorch() {
  let found;
  if (process.env.LIBTORCH) {
    found = fromDir(process.env.LIBTORCH, `LIBTORCH=${process.env.LIBTORCH}`);
    if (!found) throw new Error(`LIBTORCH=${process.env.LIBTORCH} has no include/torch/csrc/api/include/torch/torch.h and lib/libtorch.so`);
  } else {
    found = fromPython() ?? fromSystem();
  }
  if (!found) return null;
  const cuda = readdirSync(found.lib).includes('libtorch_cuda.so');
  // libtorch's C++ ABI must match ours; pip wheels before 2.7 used the old ABI.
  const abi = process.env.PULSE_CXX11_ABI ?? found.abi ?? '1';
  return { ...found, version: versionOf(found.include), cuda, abi };
}

/** node-addon-api's headers, found from here (binding.gyp may be configured in a folder outside the package),
 * absolute: node-addon-api gives it relative to the current folder. */
export function napiInclude() {
  return resolve(createRequire(import.meta.url)('node-addon-api').include_dir);
}

function main(what) {
  if (what === 'napi-include') return console.log(napiInclude());
  let d;
  try {
    d = findLibtorch();
  } catch (error) {
    console.error(`pulse: ${error.message}`);
    process.exit(1);
  }
  if (!d) {
    if (what === 'describe') { console.log('libtorch: not found'); process.exit(1); }
    console.error('pulse: no libtorch found. Run scripts/setup.sh (a checkout) or npx pulse setup, or set LIBTORCH=/path/to/libtorch.');
    process.exit(1);
  }
  const printers = {
    describe: () => console.log(`libtorch: ${d.source}\n  version: ${d.version}\n  include: ${d.include[0]}\n  lib: ${d.lib}\n  cuda: ${d.cuda ? 'yes' : 'no'}\n  cxx11 abi: ${d.abi}`),
    include: () => console.log(d.include.join(' ')),
    libdir: () => console.log(d.lib),
    libs: () => console.log(['-ltorch', '-ltorch_cpu', '-lc10', ...(d.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])].join(' ')),
    ldflags: () => console.log([`-L${d.lib}`, `-Wl,-rpath,${d.lib}`, '-Wl,--no-as-needed'].join(' ')),
    defines: () => console.log([`_GLIBCXX_USE_CXX11_ABI=${d.abi}`, ...(d.cuda ? ['PULSE_WITH_CUDA=1'] : [])].join(' ')),
  };
  if (!printers[what]) { console.error(`unknown query ${what}`); process.exit(2); }
  printers[what]();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv[2] ?? 'describe');
