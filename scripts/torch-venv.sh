#!/usr/bin/env bash
# The CPU PyTorch the tests run the generated CUDA package's Python on (test/cuda.torch_cpu.test.ts):
# a venv at .venv-torch/ (ignored by git; GRAT_TORCH_VENV moves it) with torch 2.13 CPU and numpy,
# installed from this machine image's local wheel mirror only (/opt/wheels and the file indexes under
# /opt/pypi*, GRAT_WHEELS / GRAT_PYPI_INDEXES override them): nothing goes to the network, so
# this never hangs on it. A venv that already imports them is kept (about a second).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GRAT_TORCH_VENV:-.venv-torch}"
TORCH="2.13.0"
WHEELS="${GRAT_WHEELS:-/opt/wheels}"
INDEXES="${GRAT_PYPI_INDEXES:-/opt/pypi-more/simple /opt/pypi/simple}"
PY="${PYTHON:-python3}"

if [ -n "${GRAT_TORCH_PYTHON:-}" ] && "$GRAT_TORCH_PYTHON" -c "import torch, numpy" 2>/dev/null; then
  echo "torch-venv: the tests use GRAT_TORCH_PYTHON=$GRAT_TORCH_PYTHON"
  exit 0
fi
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, numpy; assert torch.__version__.startswith('$TORCH')" 2>/dev/null; then
  echo "torch-venv: $VENV has torch $TORCH and numpy"
  exit 0
fi

fail() {
  echo "torch-venv: cannot install torch $TORCH (CPU) into $VENV: $1" >&2
  echo "  it comes from the local wheel mirror only: $WHEELS and the file indexes $INDEXES" >&2
  echo "  (GRAT_WHEELS / GRAT_PYPI_INDEXES point elsewhere; GRAT_TORCH_PYTHON=<python with torch> skips this venv)" >&2
  exit 1
}

args=()
for dir in $INDEXES; do
  [ -d "$dir" ] || continue
  if [ ${#args[@]} -eq 0 ]; then args+=(--index-url "file://$dir"); else args+=(--extra-index-url "file://$dir"); fi
done
[ -d "$WHEELS" ] && args+=(--find-links "$WHEELS")
[ ${#args[@]} -gt 0 ] || fail "none of them exists on this machine"

start=$(date +%s)
rm -rf "$VENV"
"$PY" -m venv "$VENV" || fail "$PY -m venv failed"
# PIP_CONFIG_FILE=/dev/null: only the local mirror above, never pip.conf's indexes (or the network's)
# --no-compile and then bytecode for only what the tests import: half the time of pip compiling all
PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --quiet --no-input --timeout 5 --retries 0 \
  --no-compile "${args[@]}" "torch==$TORCH" numpy || { rm -rf "$VENV"; fail "pip install failed (above)"; }
env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -c \
  "import torch, numpy, torch._dynamo, torch._functorch.aot_autograd, torch._inductor.compile_fx, torch.library" \
  || { rm -rf "$VENV"; fail "the installed torch does not import"; }
echo "torch-venv: installed torch $TORCH (CPU) and numpy into $VENV in $(( $(date +%s) - start )) s"
