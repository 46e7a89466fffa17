#!/usr/bin/env bash
# Emits the gratc CUDA package examples/finetune/finetune_dit.py needs, here (the GPU machine has no Node),
# into an ignored folder that is carried to the device (~270 KB):
#
#   examples/finetune/emit.sh [OUT] [GRID]      (defaults: .gen/finetune 48x48)
#
# finetune_dit_b.grat (beside this file) leaves the grid to run time; the example's package is bound to the
# training grid (--grid), as bench/pipeline/emit.sh binds the bench's, so the kernel's group walk
# is specialized to it. OUT/finetune_dit_b_<GRID> is the folder to pass to the example.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.gen/finetune}
GRID=${2:-48x48}
npm run build >/dev/null  # dist/ from these sources, so the package matches the checkout
mkdir -p "$OUT"
rm -rf "${OUT:?}/finetune_dit_b_${GRID}"
node dist/cli/main.js compile examples/finetune/finetune_dit_b.grat --target cuda --grid "$GRID" --out "$OUT/finetune_dit_b_${GRID}" -q >/dev/null
echo "package: $OUT/finetune_dit_b_${GRID}"
du -sh "$OUT"
