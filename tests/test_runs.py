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


def test_cross_dataset_template_in_and_out_of_domain(workbench):
    # smoke-sized: train on synthetic_xca, evaluate its test split beside a proxy (test frames enlarged to 384² with
    # shutters/borders), with the field zeroed and not; then the same checkpoint given as a parameter
    r = _run(['run', 'cross_dataset', '-p', 'overrides', '{"threads": 1}', '-p', 'input_scale', '[1.0]', '-p', 'fov', '[false, true]', '--quiet'])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = Path(r.stdout.split('run folder: ')[1].splitlines()[0])
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'ok' and [t['label'] for t in m['table']] == ['in-domain', 'out-of-domain scale 1.0, fov off', 'out-of-domain scale 1.0, fov on']
    rec = json.loads((run / 'proxy' / 'proxy.json').read_text())
    assert (rec['size'], rec['split'], rec['n_images']) == (384, 'test', 24)
    frames = sorted((run / 'proxy' / 'test' / 'images').glob('*.png'))
    assert len(frames) == 24 and Image.open(frames[0]).size == (384, 384)
    ind, off, on = m['table']
    assert ind['dataset'] == 'synthetic_xca' and off['dataset'] == on['dataset'] == 'proxy' and ind['n'] == off['n'] == 2
    assert on['fov_edge_fp'] <= off['fov_edge_fp']          # zeroing outside the field can only remove false positives
    assert all(0 <= t['centerline_coverage'] <= 1 for t in m['table'])
    if ind['betti0_error']:                                  # each row's Betti-0 error as a multiple of the in-domain one
        assert abs(off['betti0_vs_in'] - off['betti0_error'] / ind['betti0_error']) < 1e-3 * max(1.0, off['betti0_vs_in'])
    assert (run / 'cross_table.csv').is_file()
    r2 = _run(['run', 'cross_dataset', '-p', 'checkpoint', str(run / 'model' / 'model.ckpt'), '-p', 'target', 'synthetic_xca',
               '-p', 'target_split', 'val', '-p', 'input_scale', '["auto"]', '-p', 'fov', '[false]', '--quiet'])
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-3000:]
    run2 = Path(r2.stdout.split('run folder: ')[1].splitlines()[0])
    m2 = json.loads((run2 / 'metrics.json').read_text())
    assert m2['table'][0]['dice'] == ind['dice']            # the same checkpoint, the same in-domain evaluation
    assert m2['table'][1]['input_scale'] == 1.0 and m2['train'] is None   # auto: 300² frames for a 300²-trained model


def test_two_stage_template_with_second_stage_film_stages(workbench):
    # the shipped grid (xca_two_stage_cpu.yaml) gives film_stages [0, 1, 2, 3] in `overrides` for the second stage; the
    # first pass trained in the run must still be FiLM off (it used to inherit the stages: film_mode 'off' with stages
    # is a ConfigError, so the grid failed before training anything)
    from vlmfilm_wb.train import read_checkpoint, checkpoint_config
    r = _run(['run', 'two_stage', '-p', 'seeds', '[0]', '-p', 'eval_limit', '2', '-p', 'overrides',
              '{"threads": 1, "film_stages": [0, 1, 2, 3]}', '--quiet'])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = Path(r.stdout.split('run folder: ')[1].splitlines()[0])
    model = lambda p: checkpoint_config(read_checkpoint(p)).model
    first, second = model(run / 'first_pass.ckpt'), model(run / 'models' / 'overlay-on_s0' / 'model.ckpt')
    assert (first.film_mode, list(first.film_stages)) == ('off', [])
    assert (second.film_mode, list(second.film_stages)) == ('on', [0, 1, 2, 3])
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'ok' and [a['arm'] for a in m['arms']] == ['first pass alone', 'overlay on', 'overlay shuffle']
