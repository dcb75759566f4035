#!/usr/bin/env bash
# Set up and run every test: library/notebook sync, clean notebooks, nbdev-test (module notebooks and papermill
# templates at smoke size), then pytest (CLI, real data from ../shared/datasets, tiny Qwen2.5-VL).
#   tools/test.sh          everything (CI runs this)
#   tools/test.sh --fast   the inner loop: sync, clean, README check, the module notebooks (not the experiment templates,
#                          no #| slow cells) and the unit tests; prints its time at the end
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0; if [ "${1:-}" = --fast ]; then fast=1; shift; fi
t0=$(date +%s)
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" PYTHONUNBUFFERED=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# quiet kernels: tools/jupyter/kernels/python3 is ipykernel's spec without its start-up warnings (see its README)
export JUPYTER_PATH="$PWD/tools/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
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
if [ "$fast" = 1 ]; then
  echo "== nbdev-test: the module notebooks (fast tier)"
  nbdev-test --n-workers "${NBDEV_WORKERS:-2}" --timing --skip-folder-re '^(experiments|[_.].*)$'
  echo "== pytest: unit tests (fast tier)"
  pytest -q tests/test_layers.py tests/test_readme.py tests/test_compare.py tests/test_issue27.py "$@"
  echo "== fast tier passed in $(( $(date +%s) - t0 )) s"
  exit 0
fi
echo "== nbdev-test"
nbdev-test --n-workers "${NBDEV_WORKERS:-2}" --timing
# The explorer in JupyterLab, in headless Chromium: fails unless the page's DOM shows the image picker, the stage and step
# sliders and the figure, and unless, run live in the page's kernel, the figure changes when the step slider is dragged
# and when another image is picked; --self-test also breaks the explorer cell, its figure and the slider's effect on
# purpose and fails unless the check catches each. Screenshot: cache/explorer_screenshot.png. Runs whenever Chromium is installed (.ci/run installs
# it and sets VLMFILM_WB_REQUIRE_BROWSER=1, so a missing Chromium fails there instead of skipping).
if command -v chromium >/dev/null 2>&1; then
  echo "== the explorer in JupyterLab: DOM check and live check (slider, picker) in headless Chromium, and both broken on purpose"
  python tools/check_explorer.py --self-test --out cache/explorer_screenshot.png
elif [ "${VLMFILM_WB_REQUIRE_BROWSER:-0}" = 1 ]; then
  echo "FAIL: chromium is not installed (apt-get install chromium) and VLMFILM_WB_REQUIRE_BROWSER=1" >&2; exit 1
else
  echo "== skipped: the explorer browser check (chromium not installed: apt-get install chromium)"
fi
echo "== pytest"
pytest -q "$@"
echo "== all tests passed in $(( $(date +%s) - t0 )) s"
