#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv on a fresh machine. Idempotent.
# torch/torchvision are pinned by constraints.txt (local wheels on this machine kind; a range would pull CUDA builds).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
log=$(mktemp)
if ! .venv/bin/python -m pip install -c constraints.txt -e ".[dev]" >"$log" 2>&1; then
  grep -v "is ignored" "$log" | tail -40; echo "setup: pip install failed (full log: $log)" >&2; exit 1
fi
rm -f "$log"
.venv/bin/python -c "import vlmfilm_wb, torch; print(f'vlmfilm_wb {vlmfilm_wb.__version__} ready (torch {torch.__version__})')"
