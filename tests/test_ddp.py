"""Training with Lightning DDP on CPU (gloo, 2 processes): one run folder, written by rank 0, whose checkpoint loads and
evaluates in one process to exactly the validation Dice the ranks logged together (issue 12 item 1)."""
import json, subprocess, sys
from pathlib import Path

import pandas as pd
import pytest

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    env = {**__import__('os').environ, 'VLMFILM_WB_RUNS_DIR': str(root / 'runs'), 'VLMFILM_WB_CACHE_DIR': str(root / 'cache'),
           'OMP_NUM_THREADS': '1'}
    run = root / 'runs' / 'ddp'
    r = subprocess.run(CLI + ['train', '--preset', 'smoke', '-p', 'strategy', 'ddp', '-p', 'accelerator', 'cpu', '-p', 'devices', '2',
                              '-p', 'max_steps', '40', '-p', 'val_every', '20', '-p', 'val_limit', '3', '-p', 'lr', '0.003',
                              '-p', 'film_stages', '[2,3]', '--out', str(run), '--db', str(root / 'p.sqlite'), '-q'],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return root, run, env, r


def test_ddp_writes_one_run_folder_from_rank_0(ddp_run):
    root, run, env, r = ddp_run
    assert sorted(p.name for p in (root / 'runs').iterdir()) == ['ddp']          # the second rank made no folder of its own
    assert {'params.json', 'metrics.json', 'model.ckpt', 'train_summary.json', 'logs'} <= {p.name for p in run.iterdir()}
    assert not list(run.glob('.*.tmp')) and not (run / 'last.ckpt').exists()
    assert json.loads((run / 'metrics.json').read_text())['status'] == 'ok'
    assert r.stdout.count('trained 40 steps') == 1                               # one report, from rank 0


def test_ddp_checkpoint_records_the_scale_and_loads(ddp_run):
    from vlmfilm_wb.train import read_checkpoint, load_model
    root, run, env, r = ddp_run
    ck = read_checkpoint(run / 'model.ckpt')['vlmfilm_wb']
    assert ck['scale'] == dict(world_size=2, effective_batch=4, lr_rule='constant', lr=0.003, ranks_identical=True)
    net, cfg = load_model(run / 'model.ckpt')
    assert cfg.train.strategy == 'ddp' and int(net.opt_steps) == 40 and cfg.model.film_stages == [2, 3]


def test_ddp_loss_decreases(ddp_run):
    root, run, env, r = ddp_run
    loss = pd.read_csv(run / 'logs' / 'metrics.csv')['train/loss'].dropna().to_numpy()
    assert len(loss) == 40 and loss[-10:].mean() < loss[:10].mean(), loss


def test_ddp_validation_equals_single_process_eval(ddp_run):
    "Validation sharded over the ranks and gathered = `vlmfilm-wb eval` of the checkpoint in one process, image by image."
    root, run, env, r = ddp_run
    e = subprocess.run(CLI + ['eval', str(run / 'model.ckpt'), '--split', 'val', '--limit', '3', '--no-png', '-q',
                              '--db', str(root / 'p.sqlite'), '--out', str(root / 'eval')], capture_output=True, text=True, env=env)
    assert e.returncode == 0, e.stderr[-2000:]
    logged = json.loads((run / 'train_summary.json').read_text())['val']
    ev = pd.read_csv(root / 'eval' / 'per_image.csv')
    assert logged['n_images'] == len(ev) == 3 and logged['dice']['mean'] == ev['dice'].mean()
    assert "'identical': True" in e.stdout
