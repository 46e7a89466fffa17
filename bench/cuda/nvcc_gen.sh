#!/bin/bash
# Compiles every sm_90a kernel under .gen/cuda (cases.js's output) as the loader does, with
# `-Xptxas -v`, two at a time (this machine's cores), and prints each one that fails, warns, spills or
# uses a stack frame; the last line counts them. Run here before a device call (issue 19's CPU gate).
#   bash bench/cuda/nvcc_gen.sh [ROOT=.gen/cuda]
set -u
ROOT=${1:-.gen/cuda}
LOG=$(mktemp -d)
one() {
  local cu=$1 log=$2/$(echo "$1" | tr '/' '_').log
  ( cd "$(dirname "$cu")" && nvcc -gencode=arch=compute_90a,code=sm_90a -cubin -O3 -std=c++17 -Xptxas -v -o /dev/null "$(basename "$cu")" ) > "$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] || grep -qiE "warning|error|C751[0-5]" "$log" || grep -E "bytes stack frame" "$log" | grep -qvE "^ *0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads"; then
    echo "BAD $cu (rc $rc)"; grep -iE "warning|error|stack frame" "$log" | grep -vE " 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" | head -3
  else
    echo "ok $cu $(grep -oE 'Used [0-9]+ registers' "$log" | sort -u | tr '\n' ' ')"
  fi
}
export -f one
find "$ROOT" -name '*_sm90a.cu' | sort | xargs -P 2 -I{} bash -c 'one "$@"' _ {} "$LOG" | tee "$LOG/all.txt" | grep -v "^ok" 
echo "nvcc sm_90a: $(grep -c '^ok' "$LOG/all.txt") ok, $(grep -c '^BAD' "$LOG/all.txt") bad of $(find "$ROOT" -name '*_sm90a.cu' | wc -l)"
