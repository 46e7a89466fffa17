#!/usr/bin/env bash
# The multi-GPU run (issue 8) on a machine with 4 GPUs, from the repository root, with .gen/cuda
# written here by `node dist/bench/cuda/cases.js` and carried:
#   bash bench/cuda/multi_gpu.sh [check] [bench]      (default: both)
# Results: $OUT/parallel_{check,bench}_<P>gpu.json. NVLink multicast stays off.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 OUT="${OUT:-/tmp/out}"
phases="${*:-check bench}"
quiet() { grep -v '^W1\|OMP_NUM\|UserWarning\|return func\|^\*\*\*\|Guessing device ID' | grep -v '^\[rank[1-9]\]'; }
python3 bench/cuda/parallel.py build 2>&1 | tail -4 || exit 1
rc=0
if [[ $phases == *check* ]]; then
  for P in 2 4; do timeout 200 torchrun --nproc-per-node "$P" bench/cuda/parallel.py check 2>&1 | quiet | tail -32 || rc=1; done
fi
if [[ $phases == *bench* ]]; then
  for P in 1 2 4; do timeout 200 torchrun --nproc-per-node "$P" bench/cuda/parallel.py bench 2>&1 | quiet | tail -14 || rc=1; done
fi
exit $rc
