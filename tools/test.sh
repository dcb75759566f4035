#!/usr/bin/env bash
# Set up and run every test: library/notebook sync, clean notebooks, nbdev-test (module notebooks and papermill
# templates at smoke size), then pytest (CLI, real data from ../shared/datasets, tiny Qwen2.5-VL).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" PYTHONUNBUFFERED=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "== notebooks and library in sync (nbdev-export leaves no diff)"
nbdev-export
if [ -n "$(git status --porcelain -- vlmfilm_wb)" ]; then
  git status --porcelain -- vlmfilm_wb; git --no-pager diff --stat -- vlmfilm_wb
  echo "FAIL: vlmfilm_wb/ is out of sync with nbs/ (run nbdev-export and commit)" >&2; exit 1
fi
echo "== notebooks clean (nbdev-clean leaves no diff)"
nbdev-clean
if [ -n "$(git status --porcelain -- nbs)" ]; then
  git status --porcelain -- nbs; echo "FAIL: notebooks in nbs/ are not clean (run nbdev-clean and commit)" >&2; exit 1
fi
echo "== README.md rendered from nbs/index.ipynb"
python tools/readme.py --check
echo "== nbdev-test"
nbdev-test --n-workers "${NBDEV_WORKERS:-2}" --timing
if command -v chromium >/dev/null 2>&1; then
  echo "== optional: the explorer in JupyterLab, headless Chromium screenshot"
  python tools/screenshot_explorer.py --out cache/explorer_screenshot.png || echo "(optional explorer screenshot failed)"
fi
echo "== pytest"
pytest -q "$@"
