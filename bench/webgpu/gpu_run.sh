#!/usr/bin/env bash
# Old (kernel v1) vs new WGSL kernel, side by side on the GPU machine (no Node there).
# Carried (git-ignored): .node/node.xz (Node 20 binary), .node/node_modules/webgpu (dawn.node),
# .node/bench.mjs + .node/templates/ (v1 bundle), .node/new/bench.mjs + .node/new/templates/
# (this tree's bundle), .gl/*.deb (Vulkan loader, libglvnd). Build the new bundle with:
#   mkdir -p .node/new/templates && cp codegen/wgsl/templates/attention.wgsl.hbs .node/new/templates/
#   npx esbuild bench/webgpu/bench.ts --bundle --platform=node --format=esm --target=node20 --minify \
#     --external:webgpu --external:onnxruntime-node \
#     "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" \
#     --outfile=.node/new/bench.mjs
# onnxruntime-node (for --onnx; 45 MB native part, carried xz-compressed, see NOTES.md "ORT"):
#   M=.node/new/node_modules; mkdir -p $M/onnxruntime-node/bin/napi-v6/linux/x64
#   cp -r node_modules/onnxruntime-node/{package.json,dist,lib} $M/onnxruntime-node/; cp -r node_modules/onnxruntime-common $M/
#   cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node $M/onnxruntime-node/bin/napi-v6/linux/x64/
#   xz -9e -T0 -c node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 > $M/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz
#   (there: xz -d that .xz before running; ORT=1 below does it and runs the 1024² comparison)
# Run there: ON_DEVICE=1 bash bench/webgpu/gpu_run.sh  (OUT: logs and JSON; GRIDS: "grid:heads:runs ...";
# SKIP_CHECK=1 skips the correctness check)
# PROBE=1 (issue 22 items 1, 2): what Dawn offers with and without toggles (probe.mjs: adapter info, features,
# limits, subgroup-matrix configs, one 16x16x16 product per layout the kernel uses), then, with the toggles
# allow_unsafe_apis,vulkan_enable_f16_on_nvidia: every variant's --check (f32, f16 SIMT, f16 subgroup matrices)
# and Flux GRAT-B 4096² (2 heads) timed as f32 (today's kernel), f16 SIMT and f16 subgroup matrices, then exits.
# Bundle probe.ts next to bench.mjs (same esbuild command, bench/webgpu/probe.ts -> .node/new/probe.mjs).
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
if [ "${ON_DEVICE:-}" = 1 ]; then  # unpack the loaders into / (only on the device machine)
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
N=${NODE_BIN:-/tmp/node}
[ -x "$N" ] || { xz -dc .node/node.xz > "$N" && chmod +x "$N"; }
export GRATC_EXAMPLES=$PWD/examples
if [ -n "${PROBE:-}" ]; then
  T=${TOGGLES:-allow_unsafe_apis,vulkan_enable_f16_on_nvidia}
  G=${PROBE_GRID:-256x256}
  echo "== probe (toggle sets: none, each, both)"
  timeout 120 "$N" .node/new/probe.mjs --backend vulkan --out "$OUT/probe.json" 2>&1 | grep -v Warning
  echo "== check with $T (f32, f16 SIMT, f16 subgroup matrices vs float64 reference)"
  if [ -z "${SKIP_CHECK:-}" ]; then
    GRATC_DAWN_TOGGLES=$T timeout 240 "$N" .node/new/bench.mjs --check > "$OUT/check_probe.log" 2>&1
    echo "check rc=$?"; grep -v Warning "$OUT/check_probe.log"
  fi
  echo "== f32 without toggles (today's kernel as measured before)"
  timeout 120 "$N" .node/new/bench.mjs --grid "$G" --heads 2 --batch-runs 4 --trials 3 --precision f32 --out "$OUT/f32_plain.json" 2>&1 | grep -v Warning
  for m in "f32 auto" "f16 off" "f16 on"; do
    set -- $m
    echo "== $1 matrix=$2 with $T"
    GRATC_DAWN_TOGGLES=$T timeout 120 "$N" .node/new/bench.mjs --grid "$G" --heads 2 --batch-runs 4 --trials 3 --precision "$1" \
      $([ "$2" = auto ] || echo --matrix "$2") --out "$OUT/${1}_matrix_$2.json" 2>&1 | grep -v Warning
  done
  exit 0
fi
GRIDS=${GRIDS:-"256x256:2:4 64x64:8:8"}
echo "== check (new kernel, small sizes vs float64 reference)"
if [ -z "${SKIP_CHECK:-}" ]; then
  timeout 120 "$N" .node/new/bench.mjs --check > "$OUT/check_new.log" 2>&1
  echo "check rc=$?"; grep -v -e Warning -e 'not run' "$OUT/check_new.log"
fi
for g in $GRIDS; do
  IFS=: read -r grid h r <<< "$g"
  for which in old new; do
    b=.node/bench.mjs; [ $which = new ] && b=.node/new/bench.mjs
    echo "== $which $grid heads=$h"
    timeout 120 "$N" $b --grid "$grid" --heads "$h" --batch-runs "$r" --trials 3 --precision f32 --out "$OUT/${which}_$grid.json" 2>&1 | grep -v Warning
  done
done
echo "== new sg8 / shared layouts, 4096² sparse only"
for red in sg8 shared; do
  timeout 60 "$N" .node/new/bench.mjs --grid "${GRIDS%%:*}" --heads 2 --batch-runs 4 --trials 3 --precision f32 --reduction $red --no-dense 2>&1 | grep -v -e Warning -e onnxruntime
done
if [ -n "${ORT:-}" ]; then  # our kernel (sparse, full pattern) vs onnxruntime WebGPU dense attention, 1024²
  B=.node/new/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  [ -f $B/libonnxruntime.so.1 ] || xz -dk $B/libonnxruntime.so.1.xz
  export ORT_DIR=$PWD/.node/new/node_modules/onnxruntime-node
  echo "== ours vs onnxruntime webgpu, 64x64 heads=8"
  timeout 120 "$N" .node/new/bench.mjs --grid 64x64 --heads 8 --batch-runs 8 --trials 3 --precision f32 --onnx --onnx-op attention,mha \
    --onnx-runs 5 --onnx-chain 4 --profile-dir "$OUT/prof" --out "$OUT/ort_64x64.json" 2>&1 | grep -v Warning
fi
