"""Papermill runs through the console script: run folders, failures, strict parameters, sweeps and the runs table."""
import json, subprocess, sys
from pathlib import Path

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def _run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=1200, **kw)


def test_run_train_template_writes_a_run_folder(workbench):
    r = _run(['run', 'train', '-p', 'name', 'cli', '-p', 'eval_splits', '["val"]', '--quiet'])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = Path(r.stdout.split('run folder: ')[1].splitlines()[0])
    assert run.parent == workbench / 'cache' / 'runs' and run.name.endswith('_train_cli')
    params, metrics = json.loads((run / 'params.json').read_text()), json.loads((run / 'metrics.json').read_text())
    assert params['params']['eval_splits'] == ['val'] and metrics['status'] == 'ok'
    assert 0 <= metrics['val']['dice']['mean'] <= 1
    assert (run / 'train.ipynb').is_file() and (run / 'model.ckpt').is_file()
    assert {p.name for p in (run / 'figures').iterdir()} >= {'training.png', 'predictions_val.png'}


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
