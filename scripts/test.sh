#!/usr/bin/env bash
# Sets up a fresh clone and runs every test: system packages (as root), npm ci (which builds
# dist/ through `prepare`), the CPU torch venv (.venv-torch/, from the local wheel mirror), then
# vitest. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund
bash scripts/torch-venv.sh
npm test
