#!/usr/bin/env bash
# Sets up a fresh clone and runs every test: system packages (as root), npm ci (which builds
# dist/ through `prepare`), then vitest. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund
npm test
