#!/bin/bash
# One device call for an A/B round of the Hopper kernel (device machine, after .gen/ is in place):
#   1. every check case of the default build (CHECKS=all), then compute-sanitizer memcheck on a
#      ragged raster grid (TMA boxes and gathered edge tiles) and synccheck on text-only queries;
#   2. the bench cases in BENCH (comma list, run.py's SELECT) with the builds in VARIANTS as
#      contestants beside Flex (shuffled interleaved timing), the SM clock and board power sampled
#      every 50 ms by nvidia-smi meanwhile ($OUT/smi_bench.csv);
#   0. first, CHECK_FLAGS: nvcc flags of a variant to put through every check (empty: none);
#   SAN_FLAGS: nvcc flags of the build the sanitizers run (default: the default build);
#   MEM_CASES / SYNC_CASES: check cases (space lists) under memcheck / synccheck, SAN_S seconds each (defaults: a ragged
#   raster grid, text-only queries);
#   4. NCU: bench cases to profile (bench/cuda/profile_sm90.sh), empty for none.
# Each step runs under its own timeout so one hang cannot eat the call. The device tool brings back
# at most 8 files: the JSON results stay in $OUT, logs, nvidia-smi traces and ncu summaries go into
# $OUT/logs.tgz (ncu's .ncu-rep files are left out: too large).
#   OUT=/tmp/out BENCH=flux_8192_grat_x VARIANTS="lazy=-DGRAT_SM90_LAZY_RESCALE=1" bash bench/cuda/ab_run.sh
set -u
FINAL=${OUT:-/tmp/out}
OUT=$(mktemp -d)
mkdir -p "$FINAL"
finish() {
  cp "$OUT"/*.json "$FINAL"/ 2>/dev/null
  rm -f "$OUT"/*.ncu-rep
  tar czf "$FINAL/logs.tgz" -C "$OUT" .
}
trap finish EXIT
export PYTHONUNBUFFERED=1 TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/torch_ext} ARCHS=${ARCHS:-sm90a} OUT
step() { echo "== $(date -u +%T) $*"; }

nvidia-smi --query-gpu=name,power.limit,clocks.max.sm,temperature.gpu --format=csv > "$OUT/smi_info.csv" 2>&1

if [ -n "${CHECK_FLAGS:-}" ]; then
  step "check $CHECK_FLAGS"
  GRAT_CUDA_FLAGS=$CHECK_FLAGS CHECKS=all SELECT=zzz RESULTS=check_variant.json timeout "${CHECK_S:-240}" python3 bench/cuda/run.py build check > "$OUT/check_variant.log" 2>&1
  echo "check variant rc=$?"; grep -E "^checks:|FAIL|rror" "$OUT/check_variant.log" | tail -5
fi

if [ "${SKIP_CHECK:-0}" != 1 ]; then
  step check
  CHECKS=all SELECT=zzz RESULTS=check.json timeout "${CHECK_S:-240}" python3 bench/cuda/run.py build check > "$OUT/check.log" 2>&1
  echo "check rc=$?"; grep -E "^checks:|FAIL|rror" "$OUT/check.log" | tail -5
  step sanitizers
  for c in ${MEM_CASES:-flux_b_20x36_raster}; do  # (compute-sanitizer: about 20-40 s a case)
    GRAT_CUDA_FLAGS=${SAN_FLAGS:-} timeout "${SAN_S:-120}" compute-sanitizer --tool memcheck python3 bench/cuda/probe.py "$c" sm90a 1 > "$OUT/memcheck_$c.log" 2>&1
    echo "memcheck $c rc=$?"; tail -2 "$OUT/memcheck_$c.log"
  done
  for c in ${SYNC_CASES:-flux_b_20x36_textonly}; do
    GRAT_CUDA_FLAGS=${SAN_FLAGS:-} timeout "${SAN_S:-120}" compute-sanitizer --tool synccheck python3 bench/cuda/probe.py "$c" sm90a 1 > "$OUT/synccheck_$c.log" 2>&1
    echo "synccheck $c rc=$?"; tail -2 "$OUT/synccheck_$c.log"
  done
fi

if [ -n "${BENCH:-}" ]; then
  step bench
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv,noheader -lms 50 > "$OUT/smi_bench.csv" 2>&1 &
  smi=$!
  SELECT=$BENCH DENSE=${DENSE:-0} RESULTS=bench.json timeout "${BENCH_S:-300}" python3 bench/cuda/run.py build sass bench > "$OUT/bench.log" 2>&1
  echo "bench rc=$?"
  kill $smi 2>/dev/null
  grep -E "^sass|^  ours|flex [0-9]|^shape" "$OUT/bench.log" | tail -40
  python3 bench/cuda/power_trace.py "$OUT/bench.json" "$OUT/smi_bench.csv" --json "$OUT/power.json" | tail -40
fi


for c in ${NCU:-}; do
  step "ncu $c"
  timeout "${NCU_S:-180}" bash bench/cuda/profile_sm90.sh "$c" > "$OUT/ncu_$c.log" 2>&1
  echo "ncu rc=$?"; tail -3 "$OUT/ncu_$c.log"
done
step done
