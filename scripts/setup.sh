#!/usr/bin/env bash
# Installs what pulse needs and builds the native addon. Safe to run again: each step is skipped
# when its result is already there.
#   LIBTORCH=/path/to/libtorch scripts/setup.sh    build against a libtorch directory (e.g. CUDA)
#   PULSE_PYTHON=/path/to/python scripts/setup.sh  build against that interpreter's torch package
#   PULSE_SKIP_BROWSER=1 scripts/setup.sh          skip Chromium (only the report browser test uses it)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then say "apt-get not found; install $* yourself"; return 1; fi
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. JavaScript dependencies (node-addon-api and node-gyp come with them).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
else
  say "node_modules up to date"
fi

# 2. libtorch: use one that is there, else Debian's libtorch-dev.
if ! node scripts/libtorch-config.mjs describe >/dev/null 2>&1; then
  [ -n "${LIBTORCH:-}" ] && { node scripts/libtorch-config.mjs describe; exit 1; }
  apt_install libtorch-dev
fi
# Debian's libtorch (libtorch-dev, or python3-torch's copy) calls whatever libblas.so.3 is
# installed; the reference (netlib) one makes matmul ~25x slower than OpenBLAS. The OpenMP build
# shares libtorch's thread pool. Other libtorch builds bundle their own BLAS (MKL).
if node scripts/libtorch-config.mjs libdir | grep -q '^/usr/lib' && command -v dpkg >/dev/null; then
  if dpkg -s libopenblas0-openmp >/dev/null 2>&1 || dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    say "BLAS: OpenBLAS"
  else
    apt_install libopenblas0-openmp
  fi
fi

# 3. The addon, rebuilt only when its sources or the libtorch changed: `pulse setup`, which an installed package runs
#    as `npx pulse setup`. It keeps a copy in the checkout's .cache/pulse, where the tests (and the package test's
#    fresh install) find it.
PULSE_CACHE="${PULSE_CACHE:-$PWD/.cache/pulse}" node bin/pulse.js setup | sed 's/^/[setup] /'

# 4. Fonts for the charts' PNG text, and Chromium for the report's browser test (Debian's packages; no browser download).
[ -d /usr/share/fonts/truetype/dejavu ] || apt_install fonts-dejavu-core || say "no DejaVu fonts: chart PNGs will lack text"

if [ -z "${PULSE_SKIP_BROWSER:-}" ]; then
  if command -v chromium >/dev/null; then say "chromium: $(command -v chromium)"; else apt_install chromium || say "chromium not installed: the browser test will be skipped"; fi
fi
say "done"
