"""Two-stage conditioning (issue 15) through the CLI: a FiLM-off first pass, overlay profiles (stats profiler), a
second-stage FiLM-on model trained and evaluated on them. Smoke-sized: 128 px synthetic images, a few of each split."""
import json, shutil
from pathlib import Path

import numpy as np
import pytest

from vlmfilm_wb.cli import main as cli_main
from vlmfilm_wb.core import sha256_file


def _cli(args, capsys):
    "Run `vlmfilm-wb ARGS` in this process: (exit code, stdout, stderr)."
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope='module')
def two_stage(tmp_path_factory):
    "A tiny dataset, two FiLM-off first passes (seeds 0 and 1), overlay profiles warmed, a second-stage model on pass A."
    import torch
    from vlmfilm_wb.synthetic import make_synthetic_dataset, SynthConfig
    from vlmfilm_wb.train import run_config, train
    from vlmfilm_wb.store import warm_profiles
    from vlmfilm_wb.profiles import ProfileConfig
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # restored below: later tests compare runs across processes
    d = tmp_path_factory.mktemp('two_stage')
    root = make_synthetic_dataset(d/'data', SynthConfig(size=128, n_train=4, n_val=3, n_test=3), progress=False)
    db = d/'p.sqlite'
    for name, seed in (('first_a', 0), ('first_b', 1)):
        train(run_config('smoke', name=name, film_mode='off', dataset=str(root), seed=seed), d/name, store=db, progress=False)
    yield dict(d=d, root=root, db=db, a=d/'first_a'/'model.ckpt', b=d/'first_b'/'model.ckpt')
    torch.set_num_threads(threads)


def _overlay(first, **kw):
    from vlmfilm_wb.profiles import ProfileConfig
    return ProfileConfig(input_mode='overlay', first_pass=str(first), **kw)


def test_warm_then_train_reads_the_same_overlays_and_eval_runs_both_stages(two_stage, capsys):
    t = two_stage
    for split in ('train', 'val'):
        rc, out, err = _cli(['profiles', 'warm', '--dataset', t['root'], '--split', split, '-p', 'input_mode', 'overlay',
                             '-p', 'first_pass', t['a'], '--db', t['db'], '-q'], capsys)
        assert rc == 0, err
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'dataset', t['root'], '-p', 'input_mode', 'overlay',
                         '-p', 'first_pass', t['a'], '--out', t['d']/'second', '--db', t['db'], '-q'], capsys)
    assert rc == 0, err
    summ = json.loads((t['d']/'second'/'train_summary.json').read_text())
    fps = summ['profile_store']['fingerprints']
    ours = [v for v in fps.values() if v.get('view', {}).get('first_pass') == sha256_file(t['a'])]
    assert len(ours) == 1 and ours[0]['entries'] == 4 + 3      # training found every warm overlay: no new key
    # a new folder of images: eval runs the first pass, profiles its overlays, runs the second stage
    new = t['d']/'new'
    shutil.copytree(t['root']/'test', new/'test')
    rc, out, err = _cli(['eval', t['d']/'second'/'model.ckpt', '--dataset', new, '--split', 'test', '--db', t['db'],
                         '--out', t['d']/'ev_new', '--no-png', '-q'], capsys)
    assert rc == 0, err
    s = json.loads((t['d']/'ev_new'/'summary.json').read_text())
    assert s['n_images'] == 3 and s['first_pass']['sha256'] == sha256_file(t['a'])
    assert s['first_pass']['images'] == 3 and s['first_pass']['nfe_per_window'] >= 1 and s['nfe_per_window'] >= 1
    assert 'first pass' in out and 'NFE/window' in out
    rc, out, err = _cli(['eval', t['d']/'second'/'model.ckpt', '--split', 'val', '--db', t['db'], '--out', t['d']/'ev_val',
                         '--no-png', '-q'], capsys)
    assert rc == 0, err
    assert json.loads((t['d']/'ev_val'/'summary.json').read_text())['parity']['identical'] is True


@pytest.fixture(scope='module')
def second(two_stage):
    "The second-stage checkpoint (overlay critique of first pass A): the CLI test's, or trained here when that test did not run."
    ck = two_stage['d']/'second'/'model.ckpt'
    if not ck.is_file():
        from vlmfilm_wb.config import run_config
        from vlmfilm_wb.train import train
        t = two_stage
        train(run_config('smoke', dataset=str(t['root']), input_mode='overlay', first_pass=str(t['a'])), t['d']/'second',
              store=t['db'], progress=False)
    return ck


def test_overlay_is_bit_identical_between_warm_training_and_eval(two_stage, second):
    "The pixels shown to the profiler for one first pass: warm's service, the training conditioner's, evaluation's."
    from vlmfilm_wb.store import pixel_hash
    from vlmfilm_wb.config import run_config
    from vlmfilm_wb.checkpoint import build_conditioner, segmenter_from_checkpoint, profile_service
    from vlmfilm_wb.data import VesselImages
    t = two_stage
    imgs = [VesselImages(t['root'], 'val').raw(i)[0] for i in range(3)]
    warm = profile_service(_overlay(t['a']), t['d']/'fresh1.sqlite')          # fresh stores: each first pass recomputed
    warm.first_pass.cache_dir = None
    cfg = run_config('smoke', dataset=str(t['root']), input_mode='overlay', first_pass=str(t['a']))
    _, train_svc, _ = build_conditioner(cfg, t['d']/'fresh2.sqlite', 'on'); train_svc.first_pass.cache_dir = None
    seg, _, info = segmenter_from_checkpoint(second, store=t['d']/'fresh3.sqlite')
    info['service'].first_pass.cache_dir = None
    views = [svc.views(imgs) for svc in (warm, train_svc, info['service'])]
    assert views[0][0].shape == imgs[0].shape + (3,) and views[0][0].dtype == np.uint8
    for v in views[1:]: assert [pixel_hash(a) for a in v] == [pixel_hash(a) for a in views[0]]
    assert warm.fingerprint == train_svc.fingerprint == info['service'].fingerprint
    assert (warm.first_pass.counts['computed'], info['service'].first_pass.counts['computed']) == (3, 3)


def test_a_changed_first_pass_changes_every_store_key(two_stage):
    from vlmfilm_wb.store import pixel_hash, profile_key
    from vlmfilm_wb.checkpoint import profile_service
    from vlmfilm_wb.data import VesselImages
    from vlmfilm_wb.profiles import ProfileConfig
    t = two_stage
    imgs = [VesselImages(t['root'], 'train').raw(i)[0] for i in range(4)]
    keys, fph = {}, set()
    for name, cfg in [('a', _overlay(t['a'])), ('b', _overlay(t['b'])), ('a_mask', ProfileConfig(input_mode='mask_only', first_pass=str(t['a']))), ('a_alpha', _overlay(t['a'], overlay_alpha=0.3))]:
        svc = profile_service(cfg, t['db'])
        keys[name] = {profile_key(pixel_hash(v), svc.fingerprint_hash) for v in svc.views(imgs)}
        fph.add(svc.fingerprint_hash)
        svc.close()
    assert all(len(k) == 4 for k in keys.values()) and len(fph) == 4     # the first pass and view are in the fingerprint
    names = list(keys)
    for i, x in enumerate(names):
        for y in names[i + 1:]: assert not keys[x] & keys[y], (x, y)   # no key shared: nothing stale can come back


def test_eval_with_a_different_or_missing_first_pass_names_both_hashes(two_stage, second, capsys, tmp_path):
    t, ck = two_stage, second
    ha, hb = sha256_file(t['a']), sha256_file(t['b'])
    rc, out, err = _cli(['eval', ck, '--split', 'val', '--db', t['db'], '--first-pass', t['b'], '--out', tmp_path/'e', '-q'], capsys)
    assert rc == 2 and ha[:16] in err and hb[:16] in err and 'different checkpoint' in err, err
    rc, out, err = _cli(['eval', ck, '--split', 'val', '--db', t['db'], '--first-pass', tmp_path/'gone.ckpt', '--out', tmp_path/'e', '-q'], capsys)
    assert rc == 2 and ha[:16] in err and 'missing' in err and 'sha256 none' in err, err
    moved = tmp_path/'moved.ckpt'; shutil.copy(t['a'], moved)              # the same first pass elsewhere: accepted
    rc, out, err = _cli(['eval', ck, '--split', 'val', '--db', t['db'], '--first-pass', moved, '--out', tmp_path/'e',
                         '--no-png', '-q', '--limit', '1'], capsys)
    assert rc == 0, err


def test_overlay_without_first_pass_is_a_config_error(two_stage, capsys):
    rc, out, err = _cli(['profiles', 'warm', '--dataset', two_stage['root'], '--split', 'val', '-p', 'input_mode', 'overlay',
                         '--db', two_stage['db'], '-q'], capsys)
    assert rc == 2 and 'needs profile.first_pass' in err, err


def test_tiny_qwen_critiques_the_overlay_through_store_training_and_eval(two_stage, tmp_path):
    "The VLM path of a two-stage model: tiny random Qwen2.5-VL, logits mode, the default critique set on overlays."
    import os
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
    from vlmfilm_wb.qwen import build_tiny_qwen, load_prompt_set
    from vlmfilm_wb.store import warm_profiles, ProfileStore
    from vlmfilm_wb.profiles import ProfileConfig
    from vlmfilm_wb.train import run_config, train
    from vlmfilm_wb.evaluate import evaluate
    t = two_stage
    tiny = build_tiny_qwen(tmp_path/'tiny')
    kw = dict(profiler='qwen', feature_mode='logits', input_mode='overlay', first_pass=str(t['a']), vlm_model_path=str(tiny),
              vlm_device='cpu', profile_batch_size=3)
    db = tmp_path/'q.sqlite'
    from vlmfilm_wb.checkpoint import profile_service
    svc = profile_service(ProfileConfig(**kw), db)                 # a first-pass view: the service is given its FirstPass
    st = warm_profiles(t['root'], 'val', svc.cfg, progress=False, service=svc); svc.close()
    (fp,) = st['fingerprints'].values()
    assert (st['entries'], st['parse_attempts'], fp['critique'], fp['view']['first_pass']) == \
           (3, 3, load_prompt_set().digest, sha256_file(t['a']))
    import sqlite3, json as _json
    rows = sqlite3.connect(db).execute('SELECT profile, raw FROM profiles').fetchall()
    fails = sum(bool(_json.loads(raw)['format_failures']) for _, raw in rows)
    assert st['parse_failures'] == fails                           # an off-format answer is a counted parse failure
    s = train(run_config('smoke', name='qwen2', dataset=str(t['root']), **kw), tmp_path/'run', store=db, progress=False)
    assert s['profile_store']['entries'] == 3 + 4                  # val from warm (same keys), train added
    ev = evaluate(tmp_path/'run'/'model.ckpt', split='val', store=db, progress=False, save_png=False)
    assert ev['parity']['identical'] is True and ev['first_pass']['sha256'] == sha256_file(t['a'])
