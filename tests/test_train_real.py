"""Train and evaluate on the real xca_cimat80 data: checkpoints reload strictly and evaluation reproduces validation."""
import json, subprocess, sys
from pathlib import Path

import pytest

from vlmfilm_wb.core import CheckpointError
from vlmfilm_wb.train import run_config, train, load_model

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def test_eval_cli_reproduces_logged_validation_on_real_data(shared_datasets, workbench):
    cfg = run_config('smoke', dataset='xca_cimat80', name='real', film_stages=[1, 2], max_steps=6, val_every=6, val_limit=8)
    s = train(cfg, workbench / 'run', store=workbench / 'p.sqlite', progress=False)
    assert s['val']['n_images'] == 8
    r = subprocess.run(CLI + ['eval', str(workbench / 'run' / 'model.ckpt'), '--dataset', 'xca_cimat80', '--split', 'val',
                              '--db', str(workbench / 'p.sqlite'), '--quiet', '--no-png'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((workbench / 'run' / 'eval_xca_cimat80_val' / 'summary.json').read_text())
    assert summary['parity']['identical'] and summary['parity']['images'] == 8
    assert summary['metrics']['dice']['mean'] == s['val']['dice']['mean']
    net, c = load_model(workbench / 'run' / 'model.ckpt', expect={'film_stages': [1, 2]})
    assert c.model.film_stages == [1, 2] and c.data.dataset == 'xca_cimat80'
    with pytest.raises(CheckpointError, match=r'film_stages: checkpoint has \[1, 2\], expected \[0, 1\]'):
        load_model(workbench / 'run' / 'model.ckpt', expect={'film_stages': [0, 1]})
