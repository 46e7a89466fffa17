#!/bin/bash
# Source-level profile of one Hopper kernel (device machine): warp-state samples per SASS
# instruction of the case's sm_90a kernel, so the stalls can be split by role (producer vs
# consumers) and by instruction. Clocks are left alone (--clock-control none).
#   OUT=/tmp/out bash bench/cuda/profile_sm90.sh CASE_NAME   (a bench case built by run.py)
# Writes $OUT/prof_CASE.ncu-rep, $OUT/src_CASE.csv (source page, SASS), $OUT/details_CASE.txt and
# $OUT/ncu_summary_CASE.json (stalls by role and the busiest instructions: bench/cuda/ncu_summary.py).
set -u
case=$1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
ncu --clock-control none --set full --import-source yes -k regex:attention_kernel -c 1 -f \
  -o "$OUT/prof_$case" python3 bench/cuda/probe.py "$case" sm90a 2
ncu -i "$OUT/prof_$case.ncu-rep" --page source --csv --print-source sass > "$OUT/src_$case.csv" 2> "$OUT/src_$case.err"
ncu -i "$OUT/prof_$case.ncu-rep" --page details > "$OUT/details_$case.txt"
python3 bench/cuda/ncu_summary.py "$OUT/src_$case.csv" --json "$OUT/ncu_summary_$case.json"
ls -la "$OUT"
