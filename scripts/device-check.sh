#!/usr/bin/env bash
# What only a CUDA machine can show, in one command (about 8 minutes on an H200):
#   1. the addon built against the CUDA libtorch of a Python torch package, loading with CUDA available;
#   2. bench:llava at full size on CUDA (random bfloat16 weights): step time, tokens/s, peak GPU memory;
#   3. the quick protocol on the tiny LLaVA fixture on CUDA, bfloat16, with every built-in method and every
#      attack (each method's hooks and each attack on GPU tensors; two sustainability requests, enough for o3's
#      earlier adapters), checked against results.json's schema.
# Needs node_modules (npm ci), g++, and a Python whose torch sees a GPU; no network (node-gyp reads Node's
# headers from $npm_config_nodedir where it cannot download them).
#   PULSE_PYTHON=python3 scripts/device-check.sh [OUT_DIR]     (default: runs/device-check)
#   PULSE_DEVICE_CHECK_SIZES="7b 13b"                          bench sizes (default: 7b; "" for none)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/device-check}"
export PULSE_PYTHON="${PULSE_PYTHON:-python3}"
say() { printf '[device-check %s] %s\n' "$(date +%T)" "$*"; }
mkdir -p "$out"

say "1. addon against $(node scripts/libtorch-config.mjs describe | head -1)"
node scripts/libtorch-config.mjs describe | grep -q 'cuda: yes' || { say "that libtorch has no CUDA (libtorch_cuda.so)"; exit 1; }
node node_modules/node-gyp/bin/node-gyp.js rebuild -C native -j "$(nproc)" >"$out/addon-build.log" 2>&1 || { tail -40 "$out/addon-build.log"; exit 1; }
rm -f native/build/.stamp   # setup.sh rebuilds against its own libtorch next time
node --input-type=module -e "
  import { createRequire } from 'node:module';
  const t = createRequire(import.meta.url)('./native/build/Release/pulse_torch.node');
  console.log('[device-check] addon: libtorch ' + t.version() + ', cuda ' + (t.cudaAvailable() ? 'available' : 'NOT available'));
  if (!t.cudaAvailable()) process.exit(1);"

for size in ${PULSE_DEVICE_CHECK_SIZES-7b}; do
  say "2. bench:llava on CUDA, $size"
  node --import tsx bench/llava.ts --device cuda --size "$size" $([ "$size" = 13b ] && echo --checkpointing) --out "$out/bench-$size"
done

say "3. quick protocol, tiny LLaVA on CUDA (bfloat16), every method and attack"
node bin/pulse.js data generate --out "$out/world" >/dev/null
cat >"$out/tiny-llava-cuda.yaml" <<EOF
model: { kind: llava, path: test/fixtures/llava/tiny-hub, device: cuda, dtype: bfloat16 }
data: { mllmu: $out/world/MLLMU-Bench, mmbench: $out/world/MMBench/mmbench_dev_en.tsv }
attacks: [all]
fine_tune: { steps: 6, replay: 0, batch_size: 8 }
eval: { general_items: 12, batch_size: 16 }
sustainability: { requests: 2 }
EOF
# every registered method, read from the registry so that a new one is checked too
methods="$(node --import tsx --input-type=module -e "import { METHODS } from './src/unlearn/registry.ts'; console.log([...METHODS.keys()].join(','))")"
node bin/pulse.js run --preset quick --config "$out/tiny-llava-cuda.yaml" --methods "$methods" --out "$out/tiny-llava-run" --no-report
node --import tsx --input-type=module -e "
  import { readFileSync } from 'node:fs';
  import { Results } from './src/protocol/results-schema.ts';
  const r = Results.parse(JSON.parse(readFileSync('$out/tiny-llava-run/results.json', 'utf8')));
  let requests = 0, attacked = 0;
  for (const s of r.scenarios) {
    if (s.status !== 'complete') throw new Error(s.scenario + ': ' + s.status);
    for (const m of s.methods) for (const q of m.requests) { requests++; if (q.attacks) attacked++; }
  }
  console.log('[device-check] tiny LLaVA (' + r.run.model.kind + ') on CUDA: ' + r.scenarios.length + ' scenarios complete, '
    + requests + ' requests, ' + attacked + ' with attack results');"

say "done"
