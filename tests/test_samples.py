"""Issue 14, at smoke size: ensembles through `vlmfilm-wb eval --samples K` (uncertainty PNGs, ECE, NFE = steps x K, K = 1
is the default evaluation) and the sampler-frontier benchmark (`bench/run.py --only frontier`)."""
import json, subprocess, sys
from pathlib import Path

import numpy as np, pandas as pd
import pytest
import torch
from PIL import Image

from vlmfilm_wb.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def smoke_ckpt(tmp_path_factory):
    "A smoke-trained checkpoint (trained once, on 1 thread) in a scratch workbench; the thread count is restored after."
    root, threads = tmp_path_factory.mktemp('wb'), torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in dict(DATA_ROOT=root / 'data', CACHE_DIR=root / 'cache', RUNS_DIR=root / 'cache' / 'runs').items():
            mp.setenv(f'VLMFILM_WB_{k}', str(v))
        from vlmfilm_wb.train import run_config, train
        torch.set_num_threads(1)
        try:
            s = train(run_config('smoke', name='samples'), root / 'run', store=root / 'p.sqlite', progress=False)
            yield Path(s['checkpoint']), root / 'p.sqlite'
        finally:
            torch.set_num_threads(threads)


def _eval(ckpt, db, capsys, *args):
    rc = cli_main([str(a) for a in ['eval', ckpt, '--split', 'val', '--db', db, '-q', '--threads', 1, *args]])
    out, err = capsys.readouterr()
    return rc, out, err


def test_eval_samples_writes_uncertainty_and_counts_nfe(smoke_ckpt, capsys, tmp_path):
    ckpt, db = smoke_ckpt
    rc, out, err = _eval(ckpt, db, capsys, '--samples', 3, '--limit', 2, '--out', tmp_path / 'k3')
    assert rc == 0, err
    s = json.loads((tmp_path / 'k3' / 'summary.json').read_text())
    assert (s['samples'], s['nfe_per_window']) == (3, s['sample_steps'] * 3)
    names = sorted(p.name for p in (tmp_path / 'k3' / 'uncertainty').iterdir())
    assert len(names) == 2 and names == sorted(p.name for p in (tmp_path / 'k3' / 'pred').iterdir())
    u = np.array(Image.open(tmp_path / 'k3' / 'uncertainty' / names[0]))
    assert u.dtype == np.uint8 and u.shape == np.array(Image.open(tmp_path / 'k3' / 'prob' / names[0])).shape and u.max() > 0
    for k in ('ece', 'uncertainty_error_corr'):
        assert {'mean', 'lo', 'hi'} <= set(s['metrics'][k])
    assert {'ece', 'uncertainty_error_corr'} <= set(pd.read_csv(tmp_path / 'k3' / 'per_image.csv').columns)
    assert '× 3 samples' in out and 'ECE ' in out and 'uncertainty-error correlation' in out


def test_eval_one_sample_is_the_default_evaluation(smoke_ckpt, capsys, tmp_path):
    ckpt, db = smoke_ckpt
    assert _eval(ckpt, db, capsys, '--limit', 2, '--out', tmp_path / 'k0')[0] == 0
    assert _eval(ckpt, db, capsys, '--samples', 1, '--limit', 2, '--out', tmp_path / 'k1')[0] == 0
    a, b = (pd.read_csv(tmp_path / k / 'per_image.csv') for k in ('k0', 'k1'))
    assert a['dice'].tolist() == b['dice'].tolist() and a['nfe_per_window'].tolist() == b['nfe_per_window'].tolist()
    assert all((tmp_path / 'k0' / 'prob' / n).read_bytes() == (tmp_path / 'k1' / 'prob' / n).read_bytes() for n in a['name'].map(lambda x: f'{x}.png'))
    assert not (tmp_path / 'k1' / 'uncertainty').exists() and 'ece' not in a.columns


def test_eval_jump_and_temperature_reach_the_sampler(smoke_ckpt, capsys, tmp_path):
    "Each setting changes the sampler's output (not only the echoed config); the same setting twice gives the same maps."
    ckpt, db = smoke_ckpt
    rc, out, err = _eval(ckpt, db, capsys, '--jump', 'argmax', '--limit', 1)
    assert rc == 0, err
    d = Path(out.split('outputs: ')[1].strip())
    assert d.name == 'eval_synthetic_xca_val_jump-argmax_first1' and json.loads((d / 'summary.json').read_text())['jump'] == 'argmax'
    for name, extra in (('base', ()), ('base2', ()), ('argmax', ('--jump', 'argmax')), ('t', ('--temperature', 0.5))):
        rc, out, err = _eval(ckpt, db, capsys, *extra, '--limit', 1, '--out', tmp_path / name)
        assert rc == 0, err
    assert json.loads((tmp_path / 't' / 'summary.json').read_text())['temperature'] == 0.5
    prob = lambda k: sorted((tmp_path / k / 'prob').glob('*.png'))[0].read_bytes()
    assert prob('base') == prob('base2')                       # seeded: the same setting, the same map
    assert prob('argmax') != prob('base') and prob('t') != prob('base')   # the jump rule and the temperature change the sampling
    rc, out, err = _eval(ckpt, db, capsys, '--samples', 0, '--limit', 1, '--out', tmp_path / 'bad')
    assert rc == 2 and 'samples' in err


def test_frontier_benchmark_at_smoke_size(smoke_ckpt, tmp_path):
    ckpt, _ = smoke_ckpt
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'run.py'), '--only', 'frontier', '--checkpoint', str(ckpt), '--limit', '1',
                        '--frontier-split', 'val', '--frontier-steps', '1', '2', '--frontier-samples', '1', '2',
                        '--frontier-dir', str(tmp_path / 'f'), '--out', str(tmp_path / 'B.md')], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    df = pd.read_csv(tmp_path / 'f' / 'frontier.csv')
    # DFM: 2 steps x 2 jump rules x 2 K, and at 1 step (last_p1: the one p_1, no jump reaches it) 1 x 2 K
    assert len(df) == 2 * 2 + 2 and set(df['jump']) == {'stochastic', 'argmax'} and (df.loc[df['steps'] == 1, 'jump'] == 'stochastic').all()
    assert list(df.columns) == ['steps', 'jump', 'order', 't_grid', 'temperature', 'samples', 'nfe', 'dice', 'dice_lo', 'dice_hi', 'cldice',
                                'betti0_error', 'betti0_lo', 'betti0_hi', 'ece', 'uncertainty_error_corr', 'n_images', 'seconds_per_image']
    assert (df['nfe'] == df['steps'] * df['samples']).all() and (df['n_images'] == 1).all()
    assert df[['dice', 'cldice', 'betti0_error', 'ece']].notna().all().all()
    assert df.loc[df['samples'] == 2, 'uncertainty_error_corr'].notna().all()
    assert Image.open(tmp_path / 'f' / 'frontier.png').size[0] > 300
    assert (tmp_path / 'f' / 'frontier.md').read_text().count('\n| ') == 6 + 1
    md = (tmp_path / 'B.md').read_text()
    assert md.count('| frontier |') == 6 and 'frontier table and figure' in md
