#!/usr/bin/env bash
# Set up, then run the main job: train.ipynb on the embedded synthetic dataset at demo size (a few minutes on a
# 2-core CPU), and show where the run folder, metrics and figures are. Extra arguments go to `vlmfilm-wb run train`,
# e.g. tools/main.sh -p dataset xca_cimat80 -p preset cpu
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
vlmfilm-wb data summary synthetic_xca
out=$(mktemp)
vlmfilm-wb run train -p preset demo -p name demo "$@" | tee "$out"
run=$(sed -n 's/^run folder: //p' "$out" | tail -1); rm -f "$out"
echo
echo "run folder: $run"
echo "metrics:    $run/metrics.json"
echo "figures:    $(ls "$run"/figures/*.png | tr '\n' ' ')"
echo "notebook:   $run/train.ipynb"
