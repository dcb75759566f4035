"""Train and evaluate on the real xca_cimat80 data: checkpoints reload strictly and evaluation reproduces validation."""
import json, subprocess, sys
from pathlib import Path

import pytest

from vlmfilm_wb.core import CheckpointError
from vlmfilm_wb.train import run_config, train, load_model

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def test_eval_cli_reproduces_logged_validation_on_real_data(shared_datasets, workbench):
    import torch
    threads = torch.get_num_threads()
    cfg = run_config('smoke', dataset='xca_cimat80', name='real', film_stages=[1, 2], max_steps=6, val_every=6, val_limit=8, threads=1)
    try:
        s = train(cfg, workbench / 'run', store=workbench / 'p.sqlite', progress=False)
    finally:
        torch.set_num_threads(threads)
    assert s['val']['n_images'] == 8
    def ev(*extra):
        r = subprocess.run(CLI + ['eval', str(workbench / 'run' / 'model.ckpt'), '--dataset', 'xca_cimat80', '--split', 'val',
                                  '--db', str(workbench / 'p.sqlite'), '--quiet', '--no-png', *extra], capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        return r
    ev('--threads', '1')        # the validation's thread count: bit-identical Dice
    summary = json.loads((workbench / 'run' / 'eval_xca_cimat80_val' / 'summary.json').read_text())
    assert summary['parity']['identical'] and summary['parity']['images'] == 8
    assert summary['parity']['val_threads'] == 1 == summary['parity']['eval_threads']
    assert summary['metrics']['dice']['mean'] == s['val']['dice']['mean']
    r = ev('--threads', '2', '--out', str(workbench / 'eval2'))   # another count: identical, or said why not
    p = json.loads((workbench / 'eval2' / 'summary.json').read_text())['parity']
    assert p['eval_threads'] == 2 and (p['identical'] or '--threads 1' in p['note']), p
    assert p['identical'] or '--threads 1' in r.stdout
    net, c = load_model(workbench / 'run' / 'model.ckpt', expect={'film_stages': [1, 2]})
    assert c.model.film_stages == [1, 2] and c.data.dataset == 'xca_cimat80'
    with pytest.raises(CheckpointError, match=r'film_stages: checkpoint has \[1, 2\], expected \[0, 1\]'):
        load_model(workbench / 'run' / 'model.ckpt', expect={'film_stages': [0, 1]})
