"""Papermill runs through the console script: run folders, failures, strict parameters, sweeps and the runs table."""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def _run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=1200, **kw)


def test_run_train_template_writes_a_run_folder(workbench):
    # EMA (Lightning's EMAWeightAveraging, 2.6+) and TensorBoard logs on: the lowest-versions CI job runs this test too
    r = _run(['run', 'train', '-p', 'name', 'cli', '-p', 'eval_splits', '["val"]', '-p', 'overrides',
              '{"ema": true, "tensorboard": true}', '--quiet'])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = Path(r.stdout.split('run folder: ')[1].splitlines()[0])
    assert run.parent == workbench / 'cache' / 'runs' and run.name.endswith('_train_cli')
    params, metrics = json.loads((run / 'params.json').read_text()), json.loads((run / 'metrics.json').read_text())
    assert params['params']['eval_splits'] == ['val'] and metrics['status'] == 'ok'
    assert (run / 'train.ipynb').is_file() and (run / 'model.ckpt').is_file()
    assert {p.name for p in (run / 'figures').iterdir()} >= {'training.png', 'predictions_val.png'}
    assert list((run / 'tb').glob('events.out.tfevents.*')), 'no TensorBoard event file'
    # known answer: the reported Dice, recomputed here from the saved binary predictions and the dataset's own masks,
    # 2|P∩G| / (|P| + |G|) per image (the mean over the 12 val images of synthetic_xca) and pooled over all pixels
    from vlmfilm_wb.data import VesselImages, resolve_dataset
    ds = VesselImages(resolve_dataset('synthetic_xca'), 'val')
    (ev,) = run.glob('eval_*')                    # the one evaluation (val): its per-image binary predictions
    inter, size = [], []
    for i, n in enumerate(ds.names):
        p, g = np.asarray(Image.open(ev / 'pred' / f'{n}.png')) > 127, ds.raw(i)[1] > 0
        assert p.shape == g.shape and g.any()
        inter.append(int((p & g).sum())); size.append(int(p.sum() + g.sum()))
    inter, size = np.array(inter), np.array(size)
    val = metrics['val']
    assert len(ds.names) == 12 == val['dice']['n'] == val['n_images']
    assert val['dice']['mean'] == pytest.approx(np.mean(2 * inter / size), abs=1e-12)
    assert val['dice_pooled'] == pytest.approx(2 * inter.sum() / size.sum(), abs=1e-12)
    assert val['dice']['lo'] <= val['dice']['mean'] <= val['dice']['hi']


def test_failed_run_keeps_partial_notebook_and_error(workbench):
    r = _run(['run', 'train', '-p', 'dataset', 'no_such_dataset', '--quiet'])
    assert r.returncode == 1
    run = Path(r.stdout.split('run folder: ')[1].splitlines()[0])
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'failed' and "unknown dataset 'no_such_dataset'" in m['error']['evalue']
    assert (run / 'train.ipynb').is_file()


def test_unknown_parameter_is_refused_before_running(workbench):
    r = _run(['run', 'train', '-p', 'film_stage', '[1]'])
    assert r.returncode == 2 and "no parameter 'film_stage' (did you mean 'film_stages'?)" in r.stderr
    assert not (workbench / 'cache' / 'runs').exists() or not list((workbench / 'cache' / 'runs').iterdir())


def test_sweep_collects_a_table(workbench, tmp_path):
    grid = tmp_path / 'grid.yaml'
    grid.write_text('grid:\n  seed: [0, 1]\nparams:\n  eval_splits: [val]\n  name: sw\n')
    r = _run(['sweep', 'train', '--grid', str(grid)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = (workbench / 'cache' / 'runs' / 'runs_train.csv').read_text().splitlines()
    assert len(table) == 3 and 'm.val.dice.mean' in table[0]
