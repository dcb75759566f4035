"""Issue 16: every bad input or fault named there gets one clear behaviour, checked here (each test failed before its fix).

Sections: profile parser (item 9), profile store (item 10), image/mask reader and `data summary` (item 6),
run folders and `train --out` (items 1, 2), evaluation folders (item 3), `run` error line (item 8), numbers out of
range (item 7), checkpoints that are not or no longer fit (item 11), interrupted `train` and `run` (item 4)."""
import json, math, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from conftest import smoke_checkpoint
import torch

from vlmfilm_wb.cli import main as cli_main

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def _cli(args, capsys):
    "Run `vlmfilm-wb ARGS` in this process: (exit code, stdout, stderr)."
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- item 9: the profile parser
from vlmfilm_wb.profiles import parse_profile, DEFAULT_PROFILE


@pytest.mark.parametrize('reply, field, value', [
    ('{"confidence": 1}', 'confidence', 1.0),               # the top of the 0-1 scale
    ('{"confidence": 1.5}', 'confidence', 0.125),           # was 0.015; above 1 a 1-5 answer (issue 27 item 9)
    ('{"confidence": 85}', 'confidence', 0.85),             # a 0-100 answer stays a percentage
    ('{"difficulty": "100%"}', 'difficulty', 5.0),          # was 1: a percentage is a position on 1..5
    ('{"difficulty": "0%"}', 'difficulty', 1.0),
    ('{"difficulty": "50%"}', 'difficulty', 3.0),
])
def test_parser_numbers(reply, field, value):
    p = parse_profile(reply)
    assert p.parsed and getattr(p, field) == value


@pytest.mark.parametrize('reply', ['{"difficulty": NaN, "confidence": Infinity}',
                                   '{"difficulty": NaN, "focus": {"clutter": -Infinity, "boundary": NaN}}',
                                   '{"confidence": "n/a"}'])
def test_parser_all_defaulted_reply_is_a_parse_failure(reply):
    assert parse_profile(reply) == DEFAULT_PROFILE and not parse_profile(reply).parsed


# ---------------------------------------------------------------- item 10: the profile store
import os, shutil, sqlite3, struct, tempfile
from vlmfilm_wb.core import CacheError
from vlmfilm_wb.profiles import Profile, ProfileResult
from vlmfilm_wb.store import ProfileStore


def _store_with(path, n=3):
    with ProfileStore(path) as s:
        s.put_many([(f'k{i}', 'px', 'fp', ProfileResult(Profile(4.0, parsed=True, fallback=()), 'raw')) for i in range(n)])
    return path


@pytest.fixture()
def shared_tmp():
    "A folder another user can traverse (pytest's tmp_path is private to its owner)."
    d = Path(tempfile.mkdtemp(prefix='vlmfilm-faults-', dir='/tmp')); d.chmod(0o755)
    yield d
    for p in [d, *d.rglob('*')]:
        if p.is_dir(): p.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


def _as_other_user(cmd):
    "Run `cmd` as a user without write permission where we chmod it away (root ignores file modes: use nobody)."
    if os.geteuid() == 0:
        if not shutil.which('setpriv'): pytest.skip('running as root without setpriv: cannot drop privileges')
        cmd = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd='/tmp')


def test_store_db_is_a_folder(tmp_path, capsys):
    rc, out, err = _cli(['profiles', 'stats', '--db', tmp_path], capsys)
    assert rc == 2 and f'{tmp_path}: is a folder, expected a profile database file' in err
    assert 'corrupt' not in err and 'move it away' not in err
    with pytest.raises(CacheError, match='is a folder') as e: ProfileStore(tmp_path)
    assert 'corrupt' not in str(e.value)


def test_store_read_only_folder_is_a_permission_error_not_corruption(shared_tmp):
    ro = shared_tmp / 'ro'; ro.mkdir(); db = _store_with(ro / 'p.sqlite'); ro.chmod(0o555)
    r = _as_other_user(CLI + ['profiles', 'stats', '--db', str(db)])              # reading a read-only store works
    assert r.returncode == 0 and '3 entries, integrity ok' in r.stdout, r.stderr
    code = ('import sys\nfrom vlmfilm_wb.store import ProfileStore\nfrom vlmfilm_wb.core import CacheError\n'
            'try: ProfileStore(sys.argv[1])\nexcept CacheError as e: print(e)\n')
    for target in (db, ro / 'new.sqlite'):                                         # writing: existing file, new file
        r = _as_other_user([sys.executable, '-c', code, str(target)])
        assert f'{target}: permission denied' in r.stdout and 'corrupt' not in r.stdout and 'move it away' not in r.stdout, r.stdout + r.stderr
    assert db.stat().st_size > 0 and not (ro / 'new.sqlite').exists()
    secret = shared_tmp / 'secret.sqlite'; _store_with(secret); secret.chmod(0o600)           # another user's file
    r = _as_other_user(CLI + ['profiles', 'stats', '--db', str(secret)])
    assert r.returncode == 2 and f'{secret}: permission denied: this user cannot read the file' in r.stderr, r.stderr
    assert 'corrupt' not in r.stderr


def test_store_path_with_hash_and_question_mark(tmp_path, capsys):
    (tmp_path / 'a#b?c').mkdir()
    db = _store_with(tmp_path / 'a#b?c' / 'p.sqlite', n=2)
    rc, out, err = _cli(['profiles', 'stats', '--db', db], capsys)
    assert rc == 0 and '2 entries' in out, err
    assert not (tmp_path / 'a').exists()                                           # no other file opened or created


def test_store_damaged_database_is_reported_damaged(tmp_path, capsys):
    db = _store_with(tmp_path / 'p.sqlite')
    buf = bytearray(db.read_bytes()); n = len(buf) // 4096
    buf[28:32] = struct.pack('>I', n + 1)                                          # header counts a page no table uses
    (tmp_path / 'dmg.sqlite').write_bytes(bytes(buf) + bytes(4096))
    rc, out, err = _cli(['profiles', 'stats', '--db', tmp_path / 'dmg.sqlite'], capsys)
    assert rc == 2 and 'dmg.sqlite: profile database is damaged (PRAGMA quick_check: Page' in err
    buf = bytearray(db.read_bytes()); buf[n // 2 * 4096:n // 2 * 4096 + 8] = b'\xff' * 8   # a b-tree page header smashed
    (tmp_path / 'dmg2.sqlite').write_bytes(bytes(buf))
    rc, out, err = _cli(['profiles', 'stats', '--db', tmp_path / 'dmg2.sqlite'], capsys)
    assert rc == 2 and 'dmg2.sqlite: profile database is damaged' in err            # an error line, not a traceback


# ---------------------------------------------------------------- item 6: images and masks read right, or refused
import logging
from PIL import Image
from vlmfilm_wb.core import DataError
from vlmfilm_wb.data import VesselImages


def _dataset(root, image=lambda i: np.full((16, 20), 40 * i, np.uint8), mask=None, n=2, splits=('train', 'val')):
    "A tiny dataset folder with the given image and mask arrays (mask default: a 0/255 band)."
    band = np.zeros((16, 20), np.uint8); band[6:10] = 255
    for s in splits:
        for d in ('images', 'masks'): (root / s / d).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(image(i)).save(root / s / 'images' / f'im{i}.png')
            Image.fromarray(band if mask is None else mask(i)).save(root / s / 'masks' / f'im{i}.png')
    return root


def test_12_bit_image_is_scaled_by_its_depth(tmp_path):
    ds = VesselImages(_dataset(tmp_path, image=lambda i: np.array([[0, 1024, 4095] * 4] * 3, np.uint16),
                               mask=lambda i: np.zeros((3, 12), np.uint8)), 'train')
    assert ds.raw(0)[0][0, :3].tolist() == [0, 64, 255]                           # was [0, 4, 16]: nearly black
    assert ds.image_info[0]['used_bits'] == 12


def test_32_bit_integer_image_is_refused(tmp_path):
    from vlmfilm_wb.data import read_image
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(tmp_path / 'deep.tif')
    with pytest.raises(DataError, match=r'deep.tif: I image with values 0..70000: expected 8- or 16-bit unsigned pixels'):
        read_image(tmp_path / 'deep.tif')


def test_mask_0_1_is_read_as_the_vessel(tmp_path):
    band = np.zeros((16, 20), np.uint8); band[6:10] = 1
    ds = VesselImages(_dataset(tmp_path, mask=lambda i: band), 'train')
    assert int(ds.raw(0)[1].sum()) == 4 * 20                                       # was 0: an empty mask


def test_ambiguous_mask_is_refused_naming_file_and_values(tmp_path, capsys):
    labels = np.zeros((16, 20), np.uint8); labels[2:6] = 1; labels[8:12] = 2      # a label map
    root = _dataset(tmp_path / 'd', mask=lambda i: labels)
    rc, out, err = _cli(['data', 'summary', root], capsys)
    assert rc == 2, out + err
    assert f"{root / 'train' / 'masks' / 'im0.png'}: mask values {{0, 1, 2}} are not a binary mask: expected {{0, 1}} or {{0, 255}}" in err


def test_rgb_images_warn_once_per_dataset(tmp_path, caplog):
    rgb = lambda i: np.stack([np.full((16, 20), 100, np.uint8), np.full((16, 20), 50, np.uint8), np.zeros((16, 20), np.uint8)], -1)
    root = _dataset(tmp_path, image=rgb)
    with caplog.at_level(logging.WARNING, logger='vlmfilm_wb.data'):
        VesselImages(root, 'train'); VesselImages(root, 'val'); VesselImages(root, 'train')
    msgs = [r.getMessage() for r in caplog.records if 'channels' in r.getMessage()]
    assert len(msgs) == 1 and '2 of 2 images' in msgs[0] and 'grayscale luma' in msgs[0] and 'im0.png' in msgs[0]


def test_data_summary_reports_depth_channels_and_mask_values(tmp_path, capsys):
    root = _dataset(tmp_path, image=lambda i: np.full((16, 20), 3000 + 1000 * i, np.uint16), splits=('train',))
    band = np.zeros((16, 20), np.uint8); band[6:10] = 1
    _dataset(tmp_path, mask=lambda i: band, image=lambda i: np.zeros((16, 20, 3), np.uint8), splits=('val',))
    rc, out, err = _cli(['data', 'summary', root], capsys)
    assert rc == 0, err
    head, _, train, val = out.splitlines()[1:5]
    assert head.split()[:6] == ['split', 'images', 'size', 'bits', 'channels', 'mask_values']
    assert train.split()[:7] == ['train', '2', '20x16', '16', '(12', 'used)', '1'] and train.split()[7] == '{0,255}'
    assert val.split()[:6] == ['val', '2', '20x16', '8', '3', '{0,1}']


# ---------------------------------------------------------------- items 1, 2: run folders are exclusive, --out is never reused
import datetime
import threading


class _FrozenClock(datetime.datetime):
    "A clock that always says the same microsecond: two runs started 'at the same time'."
    @classmethod
    def now(cls, tz=None): return cls(2025, 1, 2, 3, 4, 5, 678901, tzinfo=tz)


def _fake_train(calls):
    "Stands in for `train.train`: writes a checkpoint file and returns a summary like the real one."
    def train(cfg, out, store=None, progress=True, resume=False, allow_changed_data=False):
        calls.append(Path(out))
        if cfg.train.seed == 13: raise DataError('dataset folder /nowhere does not exist')
        (Path(out) / 'model.ckpt').write_text(f'weights of seed {cfg.train.seed}')
        m = dict(mean=0.5, lo=0.4, hi=0.6)
        return dict(steps=4, train_seconds=1.0, patches_per_second=8.0, checkpoint=str(Path(out) / 'model.ckpt'),
                    val=dict(step=4, n_images=2, dice=m, cldice=m))
    return train


@pytest.fixture()
def fake_train(monkeypatch):
    import vlmfilm_wb.train
    calls = []
    monkeypatch.setattr(vlmfilm_wb.train, 'train', _fake_train(calls))
    return calls


def test_two_trainings_in_the_same_instant_get_two_folders(workbench, fake_train, monkeypatch, capsys):
    monkeypatch.setattr(datetime, 'datetime', _FrozenClock)
    for seed in (1, 2):
        rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'seed', seed, '-q'], capsys)
        assert rc == 0, err
    a, b = fake_train
    assert a != b and a.parent == b.parent == workbench / 'cache' / 'runs'
    assert (a / 'model.ckpt').read_text() == 'weights of seed 1' and (b / 'model.ckpt').read_text() == 'weights of seed 2'


def test_new_run_dir_is_exclusive_under_threads(tmp_path, monkeypatch):
    from vlmfilm_wb import runs
    monkeypatch.setattr(datetime, 'datetime', _FrozenClock)                      # every thread gets the same stamp
    got, barrier = [], threading.Barrier(8)
    def one():
        barrier.wait(); got.append(runs.new_run_dir('train', 'same', tmp_path))
    ts = [threading.Thread(target=one) for _ in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert len(set(got)) == 8 and len(list(tmp_path.iterdir())) == 8


def test_cli_training_is_a_run_with_a_status(workbench, fake_train, capsys):
    from vlmfilm_wb.runs import collect_runs
    assert _cli(['train', '--preset', 'smoke', '-q'], capsys)[0] == 0
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'seed', '13', '-q'], capsys)
    assert rc == 2 and 'dataset folder /nowhere does not exist' in err
    df = collect_runs()
    assert sorted(df['template']) == ['cli-train', 'cli-train'] and sorted(df['status']) == ['failed', 'ok']
    ok = df[df['status'] == 'ok'].iloc[0]
    assert ok['m.val.dice.mean'] == 0.5 and ok['p.preset'] == 'smoke'
    failed = json.loads((fake_train[1] / 'metrics.json').read_text())
    assert failed['error']['message'] == 'dataset folder /nowhere does not exist'
    rc, out, err = _cli(['runs'], capsys)
    assert rc == 0 and out.count('cli-train') == 2 and 'running or killed' not in out


def test_train_with_a_model_preset_parameter(workbench, fake_train, capsys):
    "`-p preset tiny` is the model's preset (was: TypeError 'multiple values for keyword argument preset', a traceback)."
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'preset', 'small', '-q'], capsys)
    assert rc == 0, err
    p = json.loads((fake_train[0] / 'params.json').read_text())
    assert p['params'] == {'preset': 'smoke', 'model.preset': 'small'} and p['config']['model']['preset'] == 'small'


def test_train_out_existing_run_is_refused_unless_force(workbench, fake_train, tmp_path, capsys):
    run = tmp_path / 'myrun'
    assert _cli(['train', '--preset', 'smoke', '--out', run, '-q'], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'seed', 5, '--out', run, '-q'], capsys)
    assert rc == 2 and f'run folder {run} is not empty' in err and '--force' in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before and len(fake_train) == 1   # untouched
    (run / 'notes.txt').write_text('my notes')
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'seed', 5, '--out', run, '--force', '-q'], capsys)
    assert rc == 0, err
    assert json.loads((run / 'params.json').read_text())['params']['seed'] == '5'
    assert (run / 'model.ckpt').read_text() == 'weights of seed 5' and (run / 'notes.txt').read_text() == 'my notes'
    empty = tmp_path / 'empty'; empty.mkdir()
    assert _cli(['train', '--preset', 'smoke', '--out', empty, '-q'], capsys)[0] == 0                 # an empty folder is fine


# ---------------------------------------------------------------- item 8: `run` says what failed, first and in full
def test_run_prints_the_error_line_first(workbench):
    r = subprocess.run(CLI + ['run', 'train', '-p', 'dataset', 'no_such_dataset', '--quiet'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)          # one stream: what a terminal shows
    assert r.returncode == 1
    out = r.stdout
    line = ("vlmfilm-wb: run failed: DataError: unknown dataset 'no_such_dataset'; known: ['rossa', 'synthetic_xca', 'synthetic_xca_select', "
            "'xca_cimat80'] (or pass a folder path: no folder ")                  # where it looked (issue 27 item 15)
    assert line in out and out.index(line) < out.index('run folder: ') < out.index('{')      # the error line before any JSON
    assert 'ERROR vlmfilm_wb.runs' not in out            # said once, not again as a log record cut at 300 characters
    run = Path(out.split('run folder: ')[1].splitlines()[0])
    m = json.loads(out.split(f'run folder: {run}\n', 1)[1])   # the JSON is whole (it was cut at 3,000 characters)
    assert m['status'] == 'failed' and m['error']['ename'] == 'DataError' and 'message' not in m['error']
    assert 'Traceback' in json.loads((run / 'metrics.json').read_text())['error']['message']   # the traceback stays on disk


# ---------------------------------------------------------------- item 3: evaluations of one checkpoint never share a folder
@pytest.fixture(scope='module')
def smoke_ckpt(tmp_path_factory):
    "A smoke-trained checkpoint (module scope: trained once) in a scratch workbench: (checkpoint, profile db)."
    with smoke_checkpoint(tmp_path_factory, 'faults') as r: yield r[:2]


def _eval(ckpt, db, capsys, *args):
    return _cli(['eval', ckpt, '--split', 'val', '--db', db, '-q', *args], capsys)


def test_eval_with_other_settings_gets_its_own_folder(smoke_ckpt, capsys):
    ckpt, db = smoke_ckpt
    rc, out, err = _eval(ckpt, db, capsys, '--limit', '2')
    assert rc == 0, err
    first = Path(out.split('outputs: ')[1].strip())
    before = (first / 'summary.json').read_text()
    rc, out, err = _eval(ckpt, db, capsys, '--limit', '2', '--steps', '3')
    assert rc == 0, err
    second = Path(out.split('outputs: ')[1].strip())
    assert (first.name, second.name) == ('eval_synthetic_xca_val_first2', 'eval_synthetic_xca_val_steps-3_first2')
    assert (first / 'summary.json').read_text() == before                          # the first result is intact
    assert json.loads((second / 'summary.json').read_text())['sample_steps'] == 3


def test_eval_again_into_one_folder_leaves_no_stale_files(smoke_ckpt, tmp_path, capsys):
    ckpt, db = smoke_ckpt
    out_dir = tmp_path / 'ev'
    assert _eval(ckpt, db, capsys, '--out', out_dir, '--limit', '2')[0] == 0
    assert len(list((out_dir / 'pred').iterdir())) == 2
    assert _eval(ckpt, db, capsys, '--out', out_dir, '--limit', '1')[0] == 0
    assert sorted(p.name for p in (out_dir / 'pred').iterdir()) == ['synth_0000.png']   # was 2: one stale PNG
    assert json.loads((out_dir / 'summary.json').read_text())['n_images'] == 1
    assert [p.name for p in tmp_path.iterdir()] == ['ev']                          # no partial folder left behind
    other = tmp_path / 'notes'; other.mkdir(); (other / 'mine.txt').write_text('x')
    rc, out, err = _eval(ckpt, db, capsys, '--out', other, '--limit', '1')
    assert rc == 2 and f'{other}: exists and was not made by vlmfilm-wb' in err          # issue 27: one rule for output folders
    assert [p.name for p in other.iterdir()] == ['mine.txt']


# ---------------------------------------------------------------- item 7: numbers out of range are refused in one line
@pytest.mark.parametrize('key, value, message', [
    ('lr', -1, "train.lr: -1.0 is out of range; expected > 0"),
    ('batch_size', 0, "data.batch_size: 0 is out of range; expected >= 1"),
    ('patch_size', 0, "data.patch_size: 0 is out of range; expected >= 1"),
    ('val_every', 0, "train.val_every: 0 is out of range; expected >= 1"),
    ('max_steps', -5, "train.max_steps: -5 is out of range; expected >= 1"),
    ('max_steps', 0, "train.max_steps: 0 is out of range; expected >= 1"),         # trained nothing and exited 0
    ('pos_fraction', 1.5, "data.pos_fraction: 1.5 is out of range; expected in [0, 1]"),
    ('cond_dropout', -0.1, "train.cond_dropout: -0.1 is out of range; expected in [0, 1]"),
    ('overlap', 1, "infer.overlap: 1.0 is out of range; expected in [0, 1)"),
    ('infer.threshold', 2, "infer.threshold: 2.0 is out of range; expected in [0, 1]"),
    ('ema_decay', 1, "train.ema_decay: 1.0 is out of range; expected in (0, 1)"),
    ('gamma_scale', 0, "model.gamma_scale: 0.0 is out of range; expected > 0"),
    ('beta_scale', -1, "model.beta_scale: -1.0 is out of range; expected > 0"),
    ('sample_steps', 0, "sampler.sample_steps: 0 is out of range; expected >= 1"),
    ('channels', '[8,0,32,64]', "model.channels[1]: 0 is out of range; expected >= 1"),
    ('lr', 'nan', "train.lr: nan is out of range; expected > 0"),
])
def test_out_of_range_number_is_one_line_exit_2(workbench, fake_train, key, value, message, capsys):
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', key, value, '-q'], capsys)
    assert rc == 2 and message in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1
    assert fake_train == [] and not (workbench / 'cache' / 'runs').exists()          # refused before a run folder exists


def test_eval_steps_out_of_range_is_refused(smoke_ckpt, capsys):
    rc, out, err = _eval(*smoke_ckpt, capsys, '--steps', '0')
    assert rc == 2 and 'error: sample_steps: 0 is out of range; expected >= 1' in err


def test_valid_configs_still_load(smoke_ckpt):
    "Every preset round-trips through config_from_dict (what checkpoint loading does), and the smoke checkpoint loads."
    from vlmfilm_wb.core import config_from_dict, config_to_dict
    from vlmfilm_wb.train import RUN_PRESETS, RunConfig, run_config, read_checkpoint, checkpoint_config
    for p in RUN_PRESETS:
        cfg = run_config(p, {'infer.threshold': 0}, overlap=0, pos_fraction=1, cond_dropout=1, grad_clip=0)   # bounds that are allowed
        assert config_from_dict(RunConfig, config_to_dict(cfg)) == cfg
    assert checkpoint_config(read_checkpoint(smoke_ckpt[0])).train.max_steps == 4


# ---------------------------------------------------------------- item 11: checkpoints that are not, or no longer fit
import zipfile


def _write(kind, f):
    if kind == 'text': f.write_text('hello, I am notes\n')
    elif kind == 'json': f.write_text('{"dice": 0.5}\n')
    elif kind == 'empty': f.write_bytes(b'')
    elif kind == 'random': f.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif kind == 'zip':
        with zipfile.ZipFile(f, 'w') as z: z.writestr('notes.txt', 'x')
    elif kind == 'pickle':
        import pickle; f.write_bytes(pickle.dumps({'a': 1}, protocol=4))


@pytest.mark.parametrize('kind, what', [
    ('text', "not a PyTorch checkpoint: a text file (18 bytes, starts 'hello, I am notes')"),   # was: (KeyError: 101)
    ('json', "not a PyTorch checkpoint: a JSON text file"),
    ('empty', "not a PyTorch checkpoint: an empty file (0 bytes)"),
    ('random', "not a PyTorch checkpoint: a binary file (3000 bytes) that is neither a zip archive nor a pickle"),
    ('zip', "not a PyTorch checkpoint: a zip archive without data.pkl (holds ['notes.txt'])"),
    ('pickle', "not a PyTorch checkpoint: a Python pickle, not a PyTorch zip archive"),
])
def test_non_checkpoint_file_says_what_it_is(workbench, tmp_path, kind, what, capsys):
    f = tmp_path / 'model.ckpt'; _write(kind, f)
    rc, out, err = _cli(['eval', f, '-q'], capsys)
    assert rc == 2 and f'{f}: {what}' in err and 'expected a model.ckpt written by `vlmfilm-wb train`' in err, err
    assert 'KeyError' not in err and 'Traceback' not in err


def test_truncated_and_foreign_torch_files(smoke_ckpt, tmp_path):
    import torch
    from vlmfilm_wb.core import CheckpointError
    from vlmfilm_wb.train import read_checkpoint
    cut = tmp_path / 'cut.ckpt'; cut.write_bytes(smoke_ckpt[0].read_bytes()[:5000])
    with pytest.raises(CheckpointError, match='unreadable checkpoint: a damaged or truncated zip archive'): read_checkpoint(cut)
    other = tmp_path / 'other.pt'; torch.save({'weights': torch.ones(2)}, other)
    with pytest.raises(CheckpointError, match=r"not a vlmfilm_wb checkpoint: a PyTorch file holding a dict with keys \['weights'\]"):
        read_checkpoint(other)


def _edited_checkpoint(src, dst, edit):
    import torch
    ck = torch.load(src, map_location='cpu', weights_only=True); edit(ck); torch.save(ck, dst)
    return dst


def test_non_finite_weights_are_refused_naming_the_tensors(smoke_ckpt, tmp_path, capsys):
    import torch
    from vlmfilm_wb.core import CheckpointError
    from vlmfilm_wb.train import load_model
    names = []
    def poison(ck):
        ks = [k for k, v in ck['state_dict'].items() if k.startswith('net.') and v.is_floating_point()][:2]
        ck['state_dict'][ks[0]].view(-1)[0] = float('nan'); ck['state_dict'][ks[1]].view(-1)[-1] = float('inf')
        names.extend(k[len('net.'):] for k in ks)
    bad = _edited_checkpoint(smoke_ckpt[0], tmp_path / 'nan.ckpt', poison)
    with pytest.raises(CheckpointError, match=r'non-finite weights \(NaN or Inf\) in 2 tensor\(s\)') as e: load_model(bad)
    assert all(repr(n) in str(e.value) for n in names)
    rc, out, err = _eval(bad, smoke_ckpt[1], capsys)                          # was: evaluated silently to Dice 0
    assert rc == 2 and 'non-finite weights' in err and not (tmp_path / 'eval_synthetic_xca_val').exists()


def test_relative_dataset_is_stored_absolute_and_a_vanished_one_is_named(smoke_ckpt, tmp_path, monkeypatch, capsys):
    "Train on a dataset given as a relative folder, evaluate from another folder; then the folder goes away."
    import shutil
    from vlmfilm_wb.train import run_config, train, read_checkpoint
    src = smoke_ckpt[0].parent.parent / 'data' / 'synthetic_xca'                  # generated by the smoke_ckpt training
    shutil.copytree(src, tmp_path / 'mydata' / 'xs')
    monkeypatch.chdir(tmp_path / 'mydata')
    cfg = run_config('smoke', dataset='xs', name='rel')
    assert cfg.data.dataset == str(tmp_path / 'mydata' / 'xs')                   # was: 'xs'
    from dataclasses import replace
    rel = replace(cfg, data=replace(cfg.data, dataset='xs'))                    # a RunConfig built by hand: train resolves it
    s = train(rel, tmp_path / 'run', store=smoke_ckpt[1], progress=False)
    ck = Path(s['checkpoint'])
    assert read_checkpoint(ck)['vlmfilm_wb']['config']['data']['dataset'] == str(tmp_path / 'mydata' / 'xs')
    monkeypatch.chdir(tmp_path)                                                   # another folder: still found
    rc, out, err = _eval(ck, smoke_ckpt[1], capsys, '--limit', '1')
    assert rc == 0, err
    shutil.rmtree(tmp_path / 'mydata')
    rc, out, err = _eval(ck, smoke_ckpt[1], capsys, '--limit', '1')
    assert rc == 2 and (f"the dataset folder {tmp_path / 'mydata' / 'xs'} stored in the checkpoint no longer exists; "
                        "pass --dataset") in err                                  # was: unknown dataset '...'
    rc, out, err = _eval(ck, smoke_ckpt[1], capsys, '--limit', '1', '--dataset', 'synthetic_xca')
    assert rc == 0, err


# ---------------------------------------------------------------- item 4: an interrupted training is marked, with its checkpoint
import re, signal, threading, time


def test_sigint_during_train_marks_the_run_interrupted_with_last_checkpoint(workbench, tmp_path):
    run = tmp_path / 'run'
    p = subprocess.Popen(CLI + ['train', '--preset', 'smoke', '-p', 'max_steps', '3000', '-p', 'val_every', '3000',
                                '--out', run, '--db', tmp_path / 'p.sqlite'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    threading.Thread(target=lambda: err.extend(c.decode(errors='replace') for c in iter(lambda: p.stderr.read1(4096), b'')),
                     daemon=True).start()
    try:
        t0 = time.time()                      # Lightning's CSV logger writes metrics.csv once steps are logged: training runs
        while not (run / 'logs' / 'metrics.csv').exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.2)
        assert p.poll() is None and (run / 'logs' / 'metrics.csv').exists(), ''.join(err)[-2000:]
        time.sleep(2); p.send_signal(signal.SIGINT)
        rc = p.wait(600)                      # saving last.ckpt and exiting can take minutes on a loaded 2-core machine
    finally:
        if p.poll() is None: p.kill()
    time.sleep(0.2); err = ''.join(err)
    m = json.loads((run / 'metrics.json').read_text())                           # was: no metrics.json at all
    assert rc == 130 and m['status'] == 'interrupted', (rc, err[-2000:])
    step = m['interrupted']['step']
    assert 1 <= step < 3000 and m['interrupted']['checkpoint'] == str(run / 'last.ckpt')
    assert f'training interrupted at step {step} of 3000; last checkpoint: {run / "last.ckpt"}' in err and 'Traceback' not in err
    from vlmfilm_wb.train import load_model
    net, cfg = load_model(run / 'last.ckpt')                                     # the weights where it stopped
    assert int(net.opt_steps) == step and cfg.train.max_steps == 3000 and not (run / 'model.ckpt').exists()


def _template(path, body):
    "A template notebook: a parameters cell, `body`, then a cell that must never run."
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('run_dir = None\nsteps = 3', metadata={'tags': ['parameters']}),
                nbformat.v4.new_code_cell(body), nbformat.v4.new_code_cell('never = True')]
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, str(path)); return path


@pytest.mark.parametrize('body, reason', [
    ('import os, signal\nos.kill(os.getpid(), signal.SIGKILL)', 'DeadKernelError: the kernel died (killed, or out of memory)'),
    ('raise KeyboardInterrupt', 'KeyboardInterrupt'),
    ('from vlmfilm_wb.train import TrainingInterrupted\nraise TrainingInterrupted(2, 3, None)',
     'TrainingInterrupted: training interrupted at step 2 of 3; no checkpoint could be saved'),
])
def test_run_of_an_interrupted_template_is_marked_interrupted(workbench, tmp_path, body, reason, capsys):
    t = _template(tmp_path / 'stopme.ipynb', body)
    with pytest.raises(SystemExit) as e: cli_main(['run', str(t), '--quiet'])
    out, err = capsys.readouterr()
    assert e.value.code == 130 and f'vlmfilm-wb: run interrupted: {reason}' in err, err    # was: 'run failed' / a traceback
    run = Path(out.split('run folder: ')[1].splitlines()[0])
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'interrupted' and m['interrupted']['reason'].startswith(reason) and 'error' not in m
    import nbformat
    cells = nbformat.read(str(run / 'stopme.ipynb'), as_version=4).cells
    assert cells[-1].metadata.papermill['status'] == 'pending'                  # never ran: not 'completed'
    stopped = next(c for c in cells if c.source == body)                        # papermill inserted its parameters cell
    assert stopped.metadata.papermill['status'] in ('interrupted', 'failed')


def test_sigint_to_the_runner_marks_the_run_interrupted(workbench, tmp_path):
    t = _template(tmp_path / 'sleepy.ipynb', 'import time\nfor _ in range(6000): time.sleep(0.1)')   # 10 min: SIGINT ends it long before, even on a loaded machine
    p = subprocess.Popen(CLI + ['run', str(t), '--quiet'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time(); runs = workbench / 'cache' / 'runs'
        def started():   # papermill has written the output notebook with the sleeping cell running
            nbs = list(runs.glob('*/sleepy.ipynb')) if runs.is_dir() else []
            return nbs and '"status": "running"' in nbs[0].read_text()
        while not started() and p.poll() is None and time.time() - t0 < 120: time.sleep(0.2)
        assert p.poll() is None and started()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=600)   # the kernel's shutdown, on a loaded machine
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 130 and 'vlmfilm-wb: run interrupted: KeyboardInterrupt: the runner was interrupted' in err, err[-3000:]
    assert 'runs.py' not in err and 'papermill/execute.py' not in err      # the runner's own traceback is gone (the kernel
    run = Path(out.split('run folder: ')[1].splitlines()[0])                   # may still log its shutdown mid-cell)
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'interrupted' and m['interrupted']['reason'].startswith('KeyboardInterrupt')
    import nbformat
    cells = nbformat.read(str(run / 'sleepy.ipynb'), as_version=4).cells
    assert [c.metadata.papermill['status'] for c in cells][-2:] == ['interrupted', 'pending']


# ---------------------------------------------------------------- item 5: a killed training resumes to the same weights
def _state(ckpt):
    from vlmfilm_wb.train import read_checkpoint
    return read_checkpoint(ckpt)['state_dict']


def test_killed_train_resumes_to_bit_identical_weights(workbench, tmp_path):
    "SIGKILL (no handler runs) once last.ckpt exists; `train --resume` ends with the weights of the uninterrupted run."
    args = ['train', '--preset', 'smoke', '-p', 'max_steps', '60', '-p', 'val_every', '30', '-p', 'checkpoint_every', '4',
            '-p', 'ema', 'true', '-p', 'ema_decay', '0.9', '--db', str(tmp_path / 'p.sqlite'), '-q']
    full = subprocess.run(CLI + args + ['--out', str(tmp_path / 'full')], capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]
    run = tmp_path / 'killed'
    p = subprocess.Popen(CLI + args + ['--out', str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.time()
        while not (run / 'last.ckpt').exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.05)
        assert p.poll() is None, 'training ended before it could be killed'
        p.kill(); p.wait(60)                                                  # SIGKILL: nothing of ours runs
    finally:
        if p.poll() is None: p.kill()
    assert not (run / 'model.ckpt').exists() and not (run / 'metrics.json').exists()
    from vlmfilm_wb.train import read_checkpoint
    step = read_checkpoint(run / 'last.ckpt')['vlmfilm_wb']['global_step']
    assert 4 <= step < 60 and step % 4 == 0
    r = subprocess.run(CLI + ['train', '--resume', str(run), '--db', str(tmp_path / 'p.sqlite'), '-q'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _state(tmp_path / 'full' / 'model.ckpt'), _state(run / 'model.ckpt')
    assert sorted(a) == sorted(b) and [k for k in a if not torch.equal(a[k], b[k])] == []       # bit-identical
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'ok' and m['steps'] == 60 and not (run / 'last.ckpt').exists()
    again = subprocess.run(CLI + ['train', '--resume', str(run), '-q'], capture_output=True, text=True)
    assert again.returncode == 0 and 'finished (status ok); nothing to resume' in again.stdout


def test_resume_refuses_overrides_and_foreign_folders(workbench, tmp_path, capsys):
    rc, out, err = _cli(['train', '--resume', str(tmp_path), '-p', 'lr', '0.1'], capsys)
    assert rc == 2 and 'no -p, --out or --force' in err
    rc, out, err = _cli(['train', '--resume', str(tmp_path)], capsys)
    assert rc == 2 and f"{tmp_path}: not a folder written by 'vlmfilm-wb train'" in err
    rc, out, err = _cli(['run', '--resume', str(tmp_path)], capsys)
    assert rc == 2 and f"{tmp_path}: not a run folder (no params.json)" in err
    rc, out, err = _cli(['run'], capsys)
    assert rc == 2 and 'give a template, or --resume RUN_DIR' in err


def test_killed_template_run_resumes_in_place(workbench, tmp_path, capsys):
    "A template whose kernel dies part-way: `run --resume` executes it again in its folder with its own parameters."
    t = _template(tmp_path / 'twice.ipynb', "from pathlib import Path\nmark = Path(run_dir)/'first.done'\n"
                  "if not mark.exists(): mark.write_text('x'); import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"
                  "from vlmfilm_wb.runs import finish_run\nfinish_run(run_dir, dict(steps=steps))")
    t.write_text(t.read_text().replace('never = True', 'pass'))
    with pytest.raises(SystemExit): cli_main(['run', str(t), '-p', 'steps', '7', '--quiet'])
    run = Path(capsys.readouterr().out.split('run folder: ')[1].splitlines()[0])
    assert json.loads((run / 'metrics.json').read_text())['status'] == 'interrupted'
    cli_main(['run', '--resume', str(run), '--quiet'])
    m = json.loads((run / 'metrics.json').read_text())
    assert m['status'] == 'ok' and m['steps'] == 7                            # its own parameters, in its own folder
    assert (run / 'twice.before-resume-1.ipynb').is_file() and (run / 'metrics.before-resume-1.json').is_file()
    capsys.readouterr()
    assert cli_main(['run', '--resume', str(run), '--quiet']) == 2                 # finished: nothing to resume
    assert f"{run}: the run finished (status ok); nothing to resume" in capsys.readouterr().err
