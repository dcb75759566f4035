"""Refinement flows (issue 25) through the CLI: a supervised smoke prior, `train -p flow dfm_refine -p prior PRIOR.ckpt`,
`eval` with the prior it was trained on, and the same evaluation refused with another prior (both hashes named)."""
import json
from pathlib import Path

import pytest

from vlmfilm_wb.core import sha256_file




@pytest.fixture(scope='module')
def refine(tmp_path_factory):
    "A tiny dataset, two supervised priors (seeds 0, 1) and a DFM refiner of prior A (checkpoint priors, so the cache is used)."
    import torch
    from vlmfilm_wb.synthetic import make_synthetic_dataset, SynthConfig
    from vlmfilm_wb.train import run_config, train
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    d = tmp_path_factory.mktemp('refine')
    root = make_synthetic_dataset(d/'data', SynthConfig(size=128, n_train=4, n_val=2, n_test=2), progress=False)
    for name, seed in (('prior_a', 0), ('prior_b', 1)):
        train(run_config('smoke', name=name, flow='supervised', film_mode='off', film_stages=[], dataset=str(root), seed=seed),
              d/name, store=d/'p.sqlite', progress=False)
    yield dict(d=d, root=root, a=d/'prior_a'/'model.ckpt', b=d/'prior_b'/'model.ckpt')
    torch.set_num_threads(threads)


def test_train_eval_refiner(refine, cli):
    d = refine['d']
    rc, out, err = cli(['train', '--preset', 'smoke', '-p', 'flow', 'dfm_refine', '-p', 'prior', refine['a'], '-p', 'film_mode', 'off',
                         '-p', 'film_stages', '[]', '-p', 'dataset', refine['root'], '--out', d/'ref', '--db', d/'p.sqlite', '-q'])
    assert rc == 0, err
    import torch
    ck = torch.load(d/'ref'/'model.ckpt', map_location='cpu', weights_only=True)['vlmfilm_wb']
    assert ck['prior']['sha256'] == sha256_file(refine['a'])                  # the refiner stores its prior's hash
    s = json.loads((d/'ref'/'train_summary.json').read_text())
    assert s['prior']['sha256'] == ck['prior']['sha256'] and s['prior']['nfe_per_window'] == 1
    rc, out, err = cli(['eval', d/'ref'/'model.ckpt', '--out', d/'ev', '--db', d/'p.sqlite', '-q'])
    assert rc == 0, err
    ev = json.loads((d/'ev'/'summary.json').read_text())
    assert ev['flow'] == 'dfm_refine' and ev['prior']['sha256'] == ck['prior']['sha256'] and ev['n_images'] == 2
    assert 'prior ' in out and 'NFE/window' in out


def test_refiner_with_another_prior_refused(refine, cli):
    d = refine['d']
    if not (d/'ref'/'model.ckpt').is_file():
        cli(['train', '--preset', 'smoke', '-p', 'flow', 'dfm_refine', '-p', 'prior', refine['a'], '-p', 'film_mode', 'off',
              '-p', 'film_stages', '[]', '-p', 'dataset', refine['root'], '--out', d/'ref', '--db', d/'p.sqlite', '-q'])
    rc, out, err = cli(['eval', d/'ref'/'model.ckpt', '--prior', refine['b'], '--out', d/'ev_b', '--db', d/'p.sqlite', '-q'])
    assert rc == 2
    line = err.strip().splitlines()[-1]
    assert sha256_file(refine['a'])[:16] in line and sha256_file(refine['b'])[:16] in line, line
    assert not (d/'ev_b').exists()


def test_refiner_needs_a_prior(refine, cli):
    rc, out, err = cli(['train', '--preset', 'smoke', '-p', 'flow', 'cfm_refine', '-p', 'dataset', refine['root'],
                         '--out', refine['d']/'noprior', '-q'])
    assert rc == 2 and 'refines a prior' in err
    assert not (refine['d']/'noprior'/'model.ckpt').exists()


def test_out_of_fold_priors(refine, tmp_path):
    "prior_folds 2: two models of the prior's config, model k without the training images i % 2 == k; image i's training prior from model i % 2."
    import json, numpy as np
    from vlmfilm_wb.config import run_config
    from vlmfilm_wb.train import train
    from vlmfilm_wb.checkpoint import read_checkpoint, checkpoint_config, FirstPass
    from vlmfilm_wb.datamodule import VesselDataModule
    cfg = run_config('smoke', flow='dfm_refine', prior=str(refine['a']), prior_folds=2, prior_train='checkpoint', film_mode='off',
                     film_stages=[], dataset=str(refine['root']))
    s = train(cfg, tmp_path/'ref', store=refine['d']/'p.sqlite', progress=False)
    assert s['prior_folds']['k'] == 2 and s['prior_folds']['train_seconds'] > 0
    dm = VesselDataModule(cfg)
    names = dm.images('train').names
    folds = []
    for k in range(2):
        ck = tmp_path/'ref'/'prior_folds'/f'fold{k}'/'model.ckpt'
        fc = checkpoint_config(read_checkpoint(ck))
        assert (fc.data.train_folds, fc.data.train_fold, fc.flow.flow) == (2, k, 'supervised')
        seen = VesselDataModule(fc).images('train').names
        assert seen == [n for i, n in enumerate(names) if i % 2 != k]           # fold k never saw images i % 2 == k
        folds.append(FirstPass(ck))
    dm.prior, dm.fold_priors = FirstPass(refine['a']), folds
    pri = dm.priors('train')
    for i in range(len(names)):
        assert np.array_equal(pri[i], folds[i % 2].prob(dm.images('train').raw(i)[0]))
    assert s['prior_folds']['sha256'] == [f.sha256 for f in folds]


def test_out_of_fold_priors_refused_under_ddp(refine, tmp_path):
    "Every DDP rank would train the folds into the same folders: refused in one line before any fold trains."
    import pytest
    from vlmfilm_wb.core import ConfigError
    from vlmfilm_wb.config import run_config
    from vlmfilm_wb.train import train
    cfg = run_config('smoke', flow='dfm_refine', prior=str(refine['a']), prior_folds=2, prior_train='mix', film_mode='off',
                     film_stages=[], dataset=str(refine['root']), devices=2, strategy='ddp')
    with pytest.raises(ConfigError, match='prior_folds 2 with 2 processes'): train(cfg, tmp_path/'ddp', progress=False)
    assert not (tmp_path/'ddp'/'prior_folds').exists()
