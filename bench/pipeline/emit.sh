#!/usr/bin/env bash
# Emits the gratc CUDA modules the end-to-end bench (bench/pipeline/e2e.py) needs, here (the GPU
# machine has no Node), into an ignored folder that is carried to the device.
#
#   bench/pipeline/emit.sh [OUT] [SHAPES] [PATTERNS]      (defaults: .gen/e2e all b,x)
#
# Per pattern, one run-time-grid module (`grid h=? w=?` left unbound: OUT/<pattern>_rt) when this
# gratc can compile one, and one grid-bound module per shape (OUT/<pattern>_<grid>, --grid bound).
# The bench picks among them per shape (GRATC_KIND=auto|runtime|bound). Shapes and patterns come
# from bench/pipeline/shapes.py, the bench's own table. Each module is ~160 KB.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.gen/e2e}
SHAPES=${2:-all}
PATTERNS=${3:-b,x}
npm run build >/dev/null  # dist/ from these sources, so the modules match the checkout
gratc() { node dist/cli/main.js "$@"; }
mkdir -p "$OUT"

pairs=$(python3 bench/pipeline/shapes.py "$SHAPES" "$PATTERNS")
for file in $(echo "$pairs" | cut -d' ' -f1 | sort -u); do
  name=$(basename "$file" .grat)
  # a run-time-grid module, if this compiler emits one (before that, compile refuses an unbound ?)
  if gratc compile "$file" --target cuda --out "$OUT/${name}_rt" -q >/dev/null 2>"$OUT/.rt_err"; then
    echo "run-time grid: $OUT/${name}_rt"
  else
    rm -rf "${OUT:?}/${name}_rt"
    echo "run-time grid: not supported by this gratc ($(head -n1 "$OUT/.rt_err" | cut -c1-120))"
  fi
done
rm -f "$OUT/.rt_err"
echo "$pairs" | while read -r file grid; do
  name=$(basename "$file" .grat)
  gratc compile "$file" --target cuda --grid "$grid" --out "$OUT/${name}_${grid}" -q >/dev/null
  echo "grid-bound:    $OUT/${name}_${grid}"
done
du -sh "$OUT"
