#!/usr/bin/env bash
# GPU check (issue 12): training throughput, peak memory and FLOP utilisation of the `gpu` preset in bf16, a 2-GPU DDP
# run when two GPUs are visible, and `vlmfilm-wb eval` s/image at 1 and 8 steps. About 3-6 minutes on one recent GPU
# (at most 8). Writes cache/bench_gpu/gpu.json and gpu.md (or --out DIR).
#   bench/gpu.sh                    # on a GPU machine
#   bench/gpu.sh --dry-run          # on the CPU at tiny sizes (fp32): checks the script, prints the same table
#   bench/gpu.sh --peak-tflops N    # a device missing from bench/gpu.py's table of bf16 peaks
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python; [ -x "$py" ] || py=python3
exec "$py" bench/gpu.py "$@"
