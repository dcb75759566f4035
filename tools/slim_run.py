#!/usr/bin/env python
"""Copy the results of a run folder (ablate_stages, two_stage, cross_dataset) without its checkpoints (params, metrics,
tables, per-arm train summaries, evaluation summaries and per-image CSVs), e.g. to keep them in git when the
machine's cache does not survive:
    python tools/slim_run.py RUN_DIR results/NAME
`vlmfilm-wb compare` reads slim folders like full ones."""
import shutil, sys
from pathlib import Path

KEEP = ('params.json', 'metrics.json', 'comparisons.csv', 'ablation_table.csv', 'cross_table.csv',
        'eval_*/summary.json', 'eval_*/per_image.csv', 'model/train_summary.json', 'model/eval_*/summary.json',
        'model/eval_*/per_image.csv', 'models/*/train_summary.json', 'models/*/eval_*/summary.json', 'models/*/eval_*/per_image.csv')

def slim(run: Path, dest: Path) -> int:
    if not (run/'params.json').is_file(): sys.exit(f"{run}: not a run folder (no params.json)")
    if dest.exists() and any(dest.iterdir()) and not (dest/'params.json').is_file():
        sys.exit(f"{dest}: exists and is not a slim run folder; pick another destination")
    n = 0
    for pattern in KEEP:
        for f in run.glob(pattern):
            parts = f.relative_to(run).parts
            if parts[0] == 'models' and not (run/'models'/parts[1]/'train_summary.json').is_file(): continue   # still training
            t = dest/f.relative_to(run); t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, t.with_name(t.name + '.tmp')); t.with_name(t.name + '.tmp').replace(t); n += 1
    return n

if __name__ == '__main__':
    if len(sys.argv) != 3: sys.exit(__doc__)
    print(f"{slim(Path(sys.argv[1]), Path(sys.argv[2]))} files copied to {sys.argv[2]}")
