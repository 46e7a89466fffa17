#!/usr/bin/env bash
# Patched vs unpatched ONNX models on onnxruntime-node's WebGPU EP, on the GPU machine (issue 22
# item 4; no Node there). Runs bench/onnx/webgpu.ts bundled: a dispatch-overhead chain, the
# bundled DiT model (gratc demo's default, 64x64 + 64 text) unpatched vs patched, and attention
# layers at 4,096+ tokens: Flux GRAT-B 1024² (64x64 + 512 text, 8 heads x 128, density 0.52)
# and the DiT pattern at Flux's head size (64x64 g8 + 64 text, density 0.145), each as dense
# MatMul/Softmax, com.microsoft MultiHeadAttention, patched, and patched unchunked. Every session
# has the CPU fallback disabled (refused if any node would leave the WebGPU EP) and profiling on:
# the JSON lists each model's providers, kernels per run, bytes read/written and FLOPs.
#
# Build here (a machine with Node and this repository; all of it git-ignored, ~60 MB carried):
#   mkdir -p .node/onnx/node_modules/onnxruntime-node/bin/napi-v6/linux/x64 .gl
#   npx esbuild bench/onnx/webgpu.ts --bundle --platform=node --format=esm --target=node20 \
#     --external:onnxruntime-node \
#     "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" \
#     --outfile=.node/onnx/onnx_webgpu.mjs
#   M=.node/onnx/node_modules; B=$M/onnxruntime-node/bin/napi-v6/linux/x64
#   cp -r node_modules/onnxruntime-node/{package.json,dist,lib} $M/onnxruntime-node/; cp -r node_modules/onnxruntime-common $M/
#   cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node $B/
#   xz -9e -T0 -c node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 > $B/libonnxruntime.so.1.xz
#   xz -9e -T0 -c "$(command -v node)" > .node/node.xz
#   (cd .gl && apt-get download libvulkan1 libglvnd0)   # the Vulkan loader; the NVIDIA ICD is the machine's
#   du -sh .node .gl   # with the tracked files, under 64 MiB (bench/webgpu/NOTES.md "ORT": 62.6 MB)
# Check the bundle here first (lavapipe): node .node/onnx/onnx_webgpu.mjs --cases dispatch --repeat 3
#
# Run there (device tool, carry [".node", ".gl"]):
#   ON_DEVICE=1 bash bench/onnx/gpu_run.sh
# OUT: onnx_webgpu_<card>.json, the log and the ORT profiles. FLUX="grid:text:heads ..." (default
# "64x64:512:8 128x128:512:1": Flux 1024² with 8 heads, Flux 2048² (16,896 tokens) with 1 head,
# whose dense N² scores are 1.1 GB: if the adapter's buffer limit refuses it, the row says so).
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
if [ "${ON_DEVICE:-}" = 1 ]; then  # unpack the loaders into / (only on the device machine)
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
N=${NODE_BIN:-/tmp/node}
[ -x "$N" ] || { xz -dc .node/node.xz > "$N" && chmod +x "$N"; }
B=.node/onnx/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ -f $B/libonnxruntime.so.1 ] || xz -dk $B/libonnxruntime.so.1.xz
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/card.txt"
CARD=$(sed 's/ /_/g; s/,.*//' "$OUT/card.txt" 2>/dev/null | tr 'A-Z' 'a-z'); CARD=${CARD:-unknown}
echo "== dispatch overhead, default DiT model, DiT layer (D=128, 8 heads)"
timeout 300 "$N" .node/onnx/onnx_webgpu.mjs --cases dispatch,dit,ditlayer --flux 64x64:64:8 --chain 4 --repeat 9 \
  --profile-dir "$OUT/prof" --out "$OUT/onnx_webgpu_${CARD}_dit.json" 2>&1 | grep -v Warning | tee "$OUT/dit.log" | cut -c1-600
for f in ${FLUX:-"64x64:512:8 128x128:512:1"}; do
  echo "== Flux layer $f"
  timeout 240 "$N" .node/onnx/onnx_webgpu.mjs --cases flux --flux "$f" --chain 4 --repeat 9 \
    --profile-dir "$OUT/prof" --out "$OUT/onnx_webgpu_${CARD}_flux_${f//:/_}.json" 2>&1 | grep -v Warning | tee "$OUT/flux_${f//:/_}.log" | cut -c1-600
done
rm -rf "$OUT/prof"  # profiles are large; the JSON keeps their counts
