#!/usr/bin/env bash
# Set up, then run the main job: train.ipynb on the embedded synthetic dataset at demo size (a few minutes on a
# 2-core CPU), and end with a short table of its results (tools/run_summary.py reads the run's metrics.json) and where
# the run folder, metrics and figures are. Extra arguments go to `vlmfilm-wb run train`,
# e.g. tools/main.sh -p dataset xca_cimat80 -p preset cpu
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# quiet kernels: tools/jupyter/kernels/python3 is ipykernel's spec without its start-up warnings (see its README)
export JUPYTER_PATH="$PWD/tools/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
vlmfilm-wb data summary synthetic_xca
echo
out=$(mktemp); trap 'rm -f "$out"' EXIT
status=0
# the progress bar and a failure's one-line error go to the terminal (stderr); the results JSON is in metrics.json
vlmfilm-wb run train -p preset demo -p name demo "$@" >"$out" || status=$?
run=$(sed -n 's/^run folder: //p' "$out" | tail -1)
if [ -z "$run" ]; then cat "$out"; exit "$status"; fi     # refused before a run folder existed (bad parameter: exit 2)
echo
python tools/run_summary.py "$run" || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
