"""Issue 27: output folders that are ours only, honest readers, a bounded parser, errors that point right.

Each test here failed before its fix; the item numbers are the issue's."""
import json, sys
from pathlib import Path

import numpy as np
import pytest
from conftest import smoke_checkpoint, interrupted_training





# ---------------------------------------------------------------- item 9: one confidence rule for 0-1, 1-5 and 0-100 answers
from vlmfilm_wb.profiles import parse_profile


@pytest.mark.parametrize('value, expected', [
    (0.7, 0.7), (1, 1.0),                          # 0-1: as given
    (1.99, 0.2475), (2, 0.25), (4, 0.75), (5, 1.0),  # (1, 5]: a 1-5 answer, (v - 1) / 4 (was 1.0 / 0.02 / 0.04)
    (50, 0.5), (85, 0.85), (100, 1.0),             # (5, 100]: a percentage
    (150, 1.0), (-3, 0.0)])                        # outside every scale: clamped
def test_confidence_scales(value, expected):
    p = parse_profile(f'{{"confidence": {value}, "focus": {{"boundary": "{value}"}}}}')
    assert p.parsed and p.confidence == pytest.approx(expected) and p.boundary == pytest.approx(expected)


# ---------------------------------------------------------------- item 11: the parser is linear in its input
def _nested_reply(mb=1.0):
    "A reply of `mb` MB: the profile nested 63 deep in broken objects whose bare 'key' runs 48k spaces, then prose."
    head = '{"a": ' * 62 + '{"profile": {"difficulty": 4, "confidence": 0.9}, "notes": ok, a' + ' ' * 48_000 + 'b}' + '}' * 62
    return head + ' and more.' * int((mb * 2**20 - len(head)) / 10)


def test_parser_1mb_nested_reply():
    "Took minutes (the bare-key regex backtracked quadratically over the spaces); a benchmark row times it (bench/run.py --only parser)."
    s = _nested_reply()
    assert len(s) > 2**20 - 10
    p = parse_profile(s)
    assert p.parsed and (p.difficulty, p.confidence) == (4.0, 0.9)


# ---------------------------------------------------------------- item 13: a checkpoint that could run code
import os, pickle, torch
from vlmfilm_wb.core import CheckpointError, refused_pickle_message


class _RunsCode:
    def __reduce__(self): return (os.system, ('echo this-should-never-run',))


def _code_bearing(tmp_path, legacy=False):
    p = tmp_path / ('legacy.ckpt' if legacy else 'model.ckpt')
    torch.save({'vlmfilm_wb': {}, 'state_dict': {}, 'x': _RunsCode()}, p, _use_new_zipfile_serialization=not legacy)
    return p


@pytest.mark.parametrize('legacy', [False, True])
def test_code_bearing_checkpoint_message(tmp_path, legacy):
    p = _code_bearing(tmp_path, legacy)
    with pytest.raises(pickle.UnpicklingError) as e: torch.load(p, map_location='cpu', weights_only=True)
    m = refused_pickle_message(p, e.value)
    assert m.startswith(f'{p}: this file could run code when opened (its pickle names ') and 'system' in m
    assert 'will not open it' in m and 'weights_only' not in m and '\n' not in m


@pytest.mark.parametrize('legacy', [False, True])
def test_read_checkpoint_refuses_code_bearing(tmp_path, legacy):
    from vlmfilm_wb.train import read_checkpoint
    with pytest.raises(CheckpointError) as e: read_checkpoint(_code_bearing(tmp_path, legacy))
    assert 'could run code when opened' in str(e.value) and 'weights_only' not in str(e.value)


# ---------------------------------------------------------------- items 1-4: a folder we write into is new, or ours
from vlmfilm_wb.core import ConfigError, OUTPUT_MARKER, mark_output_dir


def _users_folder(tmp_path, *names):
    "A folder of the user's (no marker) holding `names`; returns it and its contents, to check it stays intact."
    d = tmp_path / 'mine'; d.mkdir()
    for n in names: (d / n).write_text(f'my {n}')
    return d, {n: f'my {n}' for n in names}


def _contents(d): return {p.name: p.read_text() for p in Path(d).iterdir() if p.is_file()}


@pytest.mark.parametrize('extra', [[], ['--no-png']])
def test_eval_refuses_a_users_folder_with_a_summary(workbench, tmp_path, cli, extra):
    "Item 1: was deleted whole, exit 0."
    d, files = _users_folder(tmp_path, 'notes.md', 'figure.png', 'summary.json')
    rc, out, err = cli(['eval', tmp_path / 'model.ckpt', '--out', d, '-q', *extra])
    assert rc == 2 and f'{d}: exists and was not made by vlmfilm-wb' in err and len(err.strip().splitlines()) == 1, err
    assert _contents(d) == files


def test_predict_refuses_a_users_predictions(workbench, tmp_path, cli):
    "Item 3: a user's predictions.csv was overwritten."
    d, files = _users_folder(tmp_path, 'predictions.csv')
    rc, out, err = cli(['predict', tmp_path / 'model.ckpt', tmp_path, '--out', d, '-q'])
    assert rc == 2 and f'{d}: exists and was not made by vlmfilm-wb' in err, err
    assert _contents(d) == files


def test_eval_refuses_a_prediction_folder(workbench, tmp_path, cli):
    "Item 4: eval --out an earlier prediction folder deleted the predictions."
    d, files = _users_folder(tmp_path, 'predictions.csv', 'summary.json')
    mark_output_dir(d, 'predict'); files = _contents(d)
    rc, out, err = cli(['eval', tmp_path / 'model.ckpt', '--out', d, '-q'])
    assert rc == 2 and f'{d}: holds the output of `vlmfilm-wb predict`, not of `vlmfilm-wb eval`' in err, err
    assert _contents(d) == files


def test_train_force_refuses_a_folder_not_ours(workbench, tmp_path, cli):
    "Item 2: --force deleted logs/, checkpoints/ and params.json of any folder; the refusal suggested --force."
    d, files = _users_folder(tmp_path, 'params.json', 'notes.md')
    (d / 'logs').mkdir(); (d / 'logs' / 'mine.csv').write_text('x')
    for force in ([], ['--force']):
        rc, out, err = cli(['train', '--preset', 'smoke', '--out', d, '-q', *force])
        assert rc == 2 and f'{d}: exists and was not made by vlmfilm-wb' in err and '--force' not in err, err
    assert {k: v for k, v in _contents(d).items() if k != 'logs'} == files and (d / 'logs' / 'mine.csv').read_text() == 'x'


def test_run_folders_carry_the_marker(workbench, tmp_path):
    from vlmfilm_wb.runs import start_run
    d = start_run('cli-train', {}, out=tmp_path / 'r')
    assert json.loads((d / OUTPUT_MARKER).read_text())['made_by'] == 'vlmfilm-wb train'
    with pytest.raises(ConfigError, match='pass --force to replace the run in it'): start_run('cli-train', {}, out=d)
    (d / 'notes.md').write_text('mine')
    d2 = start_run('cli-train', {'seed': 2}, out=d, force=True)       # --force replaces our files only
    assert d2 == d and (d / 'notes.md').read_text() == 'mine' and json.loads((d / 'params.json').read_text())['params'] == {'seed': 2}


# ---------------------------------------------------------------- item 17: a misspelt top-level grid key
@pytest.mark.parametrize('text, msg', [
    ('parms: {max_steps: 2}\ngrid: {seed: [1, 2]}\n', "unknown key 'parms' (did you mean 'params'?)"),
    ('gird: {seed: [1, 2]}\n', "grid entry 'gird' must be a non-empty list, got {'seed': [1, 2]} (did you mean 'grid'?)")])
def test_grid_misspelt_top_level_key(tmp_path, text, msg):
    from vlmfilm_wb.runs import read_grid
    from vlmfilm_wb.core import ConfigError
    (tmp_path / 'g.yaml').write_text(text)
    with pytest.raises(ConfigError) as e: read_grid(tmp_path / 'g.yaml')
    assert msg in str(e.value), str(e.value)


# ---------------------------------------------------------------- item 8: DICOM rescale, then the photometric rule
def _dicom(path, stored, bits=12, photometric='MONOCHROME2', slope=None, intercept=None, signed=False):
    "A one-frame uncompressed XA DICOM file of `stored` (H, W) values, with Rescale Slope/Intercept when given."
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, XRayAngiographicImageStorage, generate_uid
    a = np.asarray(stored)
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = XRayAngiographicImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(); meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta; ds.SOPClassUID = XRayAngiographicImageStorage; ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'XA'; ds.Rows, ds.Columns = a.shape; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16; ds.BitsStored = bits; ds.HighBit = bits - 1; ds.PixelRepresentation = int(signed)
    if slope is not None: ds.RescaleSlope = slope
    if intercept is not None: ds.RescaleIntercept = intercept
    ds.PixelData = a.astype(np.int16 if signed else np.uint16).tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return Path(path)


@pytest.mark.parametrize('photometric, expected', [('MONOCHROME2', [[255, 191, 0]]), ('MONOCHROME1', [[0, 64, 255]])])
def test_dicom_negative_rescale_slope_not_inverted(tmp_path, photometric, expected):
    "Item 8: stored 0..4095 with slope -1, intercept 4095 means values 4095..0; it was read inverted (the stored order)."
    from vlmfilm_wb.predict import read_dicom
    u8 = read_dicom(_dicom(tmp_path / 'neg.dcm', [[0, 1024, 4095]], slope=-1, intercept=4095, photometric=photometric))[0][0]
    assert u8.tolist() == expected
    plain = read_dicom(_dicom(tmp_path / 'pos.dcm', [[4095, 3071, 0]], photometric=photometric))[0][0]   # the same values, slope 1
    assert u8.tolist() == plain.tolist()


def test_dicom_rescale_positive_and_signed(tmp_path):
    "A positive slope/intercept does not change the picture (the declared range maps onto 0..255); a signed negative slope flips it."
    from vlmfilm_wb.predict import read_dicom
    r = lambda **k: read_dicom(_dicom(tmp_path / 'x.dcm', **k))[0][0].tolist()
    assert r(stored=[[0, 2048, 4095]], slope=2.5, intercept=-1000) == r(stored=[[0, 2048, 4095]]) == [[0, 128, 255]]
    assert r(stored=[[-2048, 0, 2047]], signed=True, slope=-1) == [[255, 127, 0]]


def test_dicom_zero_rescale_slope_refused(tmp_path):
    from vlmfilm_wb.predict import read_dicom
    from vlmfilm_wb.core import DataError
    p = _dicom(tmp_path / 'z.dcm', [[0, 1]], slope=0)
    with pytest.raises(DataError, match=r'z\.dcm: RescaleSlope 0'): read_dicom(p)


# ---------------------------------------------------------------- item 10: RGBA composited, EXIF orientation applied
def _rgba(path, alpha):
    "A 2x3 RGBA PNG: grey 200 everywhere, opacity `alpha` (H, W)."
    from PIL import Image
    a = np.zeros((2, 3, 4), np.uint8); a[..., :3] = 200; a[..., 3] = alpha
    Image.fromarray(a, 'RGBA').save(path); return Path(path)


def test_rgba_composited_on_black(tmp_path, caplog):
    "Item 10: transparent pixels read as their colour (200), with no word."
    from vlmfilm_wb.data import read_image_info
    from vlmfilm_wb.predict import read_frames
    p = _rgba(tmp_path / 'a.png', [[255, 0, 255], [128, 255, 0]])
    u8, info = read_image_info(p)
    assert u8.tolist() == [[200, 0, 200], [100, 200, 0]] and info['transparent'] == 3
    with caplog.at_level('WARNING'): read_frames(p)
    w = [r.getMessage() for r in caplog.records if 'transparent' in r.getMessage()]
    assert len(w) == 1 and w[0].startswith(f'{p}: 3 of 6 pixels are transparent') and 'on black' in w[0], w
    caplog.clear()
    with caplog.at_level('WARNING'): read_frames(_rgba(tmp_path / 'opaque.png', 255))    # an opaque alpha changes nothing: no word
    assert read_image_info(tmp_path / 'opaque.png')[0].tolist() == [[200] * 3] * 2 and not caplog.records


def test_palette_and_la_transparency(tmp_path):
    from PIL import Image
    from vlmfilm_wb.data import read_image_info
    la = np.zeros((1, 2, 2), np.uint8); la[..., 0] = 100; la[0, :, 1] = [255, 0]
    Image.fromarray(la, 'LA').save(tmp_path / 'la.png')
    assert read_image_info(tmp_path / 'la.png')[0].tolist() == [[100, 0]]
    p = Image.fromarray(np.array([[0, 1]], np.uint8), 'P'); p.putpalette([50, 50, 50, 90, 90, 90]); p.info['transparency'] = 1
    p.save(tmp_path / 'p.png', transparency=1)
    u8, info = read_image_info(tmp_path / 'p.png')
    assert u8.tolist() == [[50, 0]] and info['transparent'] == 1


@pytest.mark.parametrize('orientation, k', [(6, -1), (8, 1), (3, 2)])
def test_jpeg_exif_orientation_applied(tmp_path, caplog, orientation, k):
    "Item 10: a JPEG's EXIF orientation was ignored (outputs rotated relative to what every viewer shows)."
    from PIL import Image
    from vlmfilm_wb.data import read_image_info
    from vlmfilm_wb.predict import read_frames
    a = np.zeros((16, 24), np.uint8); a[:8, :8] = 255                  # a bright block top-left, landscape
    ex = Image.Exif(); ex[0x0112] = orientation
    Image.fromarray(a).save(tmp_path / 'o.jpg', exif=ex, quality=100)
    u8, info = read_image_info(tmp_path / 'o.jpg')
    want = np.rot90(a, k)                                            # what a viewer shows (6: 90° clockwise)
    assert u8.shape == want.shape and np.abs(u8.astype(int) - want).max() < 40 and info['orientation'] == orientation
    name, fr, fi = read_frames(tmp_path / 'o.jpg')[0]
    assert fr.shape == want.shape


# ---------------------------------------------------------------- item 18: frames smaller than the window
@pytest.fixture(scope='module')
def smoke27(tmp_path_factory):
    "A smoke-trained checkpoint (trained once for this module) in a scratch workbench: (checkpoint, profile db, root)."
    with smoke_checkpoint(tmp_path_factory, 'i27') as r: yield r


def _png(path, shape, seed=0):
    from PIL import Image
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path); return Path(path)


@pytest.mark.parametrize('shape, scale', [((30, 40), None), ((128, 128), '0.2'), ((40, 130), None)])
def test_predict_pads_frames_smaller_than_the_window(smoke27, tmp_path, cli, shape, scale):
    "Item 18: a side below about a third of the window (natively or after --input-scale) raised torch's padding error."
    ck, db, _ = smoke27
    p = _png(tmp_path / 'small.png', shape)
    rc, out, err = cli(['predict', ck, p, '--out', tmp_path / 'o', '--db', db, '-q', *(['--input-scale', scale] if scale else [])])
    assert rc == 0, err
    from PIL import Image
    assert np.asarray(Image.open(tmp_path / 'o' / 'prob' / 'small.png')).shape == shape


@pytest.mark.parametrize('shape, scale, msg', [
    ((1, 1), None, 'one.png: 1x1 px (WxH): too small to segment (at least 16 px a side)'),
    ((128, 128), '0.1', 'one.png: 128x128 px (WxH) is 13x13 px after input_scale 0.1: too small to segment (at least 16 px a side')])
def test_predict_refuses_a_tiny_frame_in_one_line(smoke27, tmp_path, cli, shape, scale, msg):
    "Item 18: a 1x1 PNG failed with a traceback in the stats profiler."
    ck, db, _ = smoke27
    p = _png(tmp_path / 'one.png', shape)
    rc, out, err = cli(['predict', ck, p, '--out', tmp_path / 'o', '--db', db, '-q', *(['--input-scale', scale] if scale else [])])
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'o').exists()


def test_eval_small_and_tiny_images(smoke27, tmp_path, cli):
    "Item 18 in eval: a dataset of 30x40 images is evaluated (padded); a 2x2 image is refused in one line naming it."
    ck, db, _ = smoke27
    from PIL import Image
    for split in ('test',):
        for d in ('images', 'masks'): (tmp_path / 'ds' / split / d).mkdir(parents=True)
    m = np.zeros((30, 40), np.uint8); m[14:17, 3:-3] = 255
    for i in range(2):
        _png(tmp_path / 'ds' / 'test' / 'images' / f'a{i}.png', (30, 40), i)
        Image.fromarray(m).save(tmp_path / 'ds' / 'test' / 'masks' / f'a{i}.png')
    rc, out, err = cli(['eval', ck, '--dataset', tmp_path / 'ds', '--split', 'test', '--db', db, '-q', '--out', tmp_path / 'e'])
    assert rc == 0, err
    _png(tmp_path / 'ds' / 'test' / 'images' / 'a1.png', (2, 2)); Image.fromarray(m[:2, :2]).save(tmp_path / 'ds' / 'test' / 'masks' / 'a1.png')
    rc, out, err = cli(['eval', ck, '--dataset', tmp_path / 'ds', '--split', 'test', '--db', db, '-q', '--out', tmp_path / 'e2'])
    assert rc == 2 and 'a1.png: 2x2 px (WxH): too small to segment' in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------- item 19: a read-only --out
import shutil, subprocess, tempfile


def _as_other_user(cmd, env):
    "Run `cmd` as a user without write permission where we chmod it away (root ignores file modes: use nobody)."
    if os.geteuid() == 0:
        if not shutil.which('setpriv'): pytest.skip('running as root without setpriv: cannot drop privileges')
        cmd = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd='/tmp', env={**os.environ, **env})


@pytest.fixture()
def readonly_setup(smoke27):
    "A folder another user can traverse: the checkpoint and an input (readable), w/ (writable by all), ro/ (read-only)."
    ck, db, _ = smoke27
    d = Path(tempfile.mkdtemp(prefix='vlmfilm-i27-', dir='/tmp')); d.chmod(0o755)
    shutil.copy(ck, d / 'model.ckpt'); _png(d / 'in.png', (40, 40))
    (d / 'w').mkdir(); shutil.copy(db, d / 'w' / 'p.sqlite'); (d / 'ro').mkdir()
    for p in (d / 'model.ckpt', d / 'in.png'): p.chmod(0o644)
    (d / 'w' / 'p.sqlite').chmod(0o666); (d / 'w').chmod(0o777); (d / 'ro').chmod(0o555)
    env = dict(VLMFILM_WB_DATA_ROOT=str(d / 'w' / 'data'), VLMFILM_WB_CACHE_DIR=str(d / 'w' / 'cache'),
               VLMFILM_WB_RUNS_DIR=str(d / 'w' / 'runs'), HOME=str(d / 'w'))
    yield d, env
    for p in [d, *d.rglob('*')]:
        if p.is_dir(): p.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


_PREDICT = ['predict', '{d}/model.ckpt', '{d}/in.png', '--db', '{d}/w/p.sqlite', '--out', '{out}']


@pytest.mark.parametrize('args, where', [
    (_PREDICT, 'ro/new'), (_PREDICT, 'ro'),
    (['eval', '{d}/model.ckpt', '--split', 'val', '--limit', '1', '--db', '{d}/w/p.sqlite', '--out', '{out}'], 'ro/new'),
    (['train', '--preset', 'smoke', '--out', '{out}'], 'ro')])
def test_read_only_out_is_one_line(readonly_setup, args, where):
    "Item 19: a PermissionError traceback (mkdir / mkdtemp in the read-only folder)."
    d, env = readonly_setup
    r = _as_other_user([str(Path(sys.executable).parent / 'vlmfilm-wb')] + [a.format(d=d, out=d / where) for a in args] + ['-q'], env)
    err = r.stderr.strip()
    assert r.returncode == 2 and "Traceback" not in err and len([l for l in err.splitlines() if "matplotlib" not in l]) == 1, err
    assert f'{d / "ro"}: cannot write into this folder (Permission denied)' in err, err
    assert sorted(p.name for p in (d / 'ro').iterdir()) == []


# ---------------------------------------------------------------- item 16: compare the resolved parameters
def _ablate_run(d, params, defaults=None):
    "An ablate_stages run folder with one finished arm 'a' (seed from params) as compare reads it."
    import pandas as pd
    from vlmfilm_wb.core import write_json
    write_json(d / 'params.json', dict(template='ablate_stages', params=params, **({} if defaults is None else dict(defaults=defaults))))
    for s in params['seeds']:
        m = d / 'models' / f'a_s{s}'
        write_json(m / 'train_summary.json', dict(name='a'))
        write_json(m / 'eval_x_test' / 'summary.json', dict(split='test', film_mode='off', trained_film_mode='off', limit=None))
        pd.DataFrame(dict(name=['i0', 'i1'], dice=[0.5, 0.6], cldice=[0.5, 0.6], betti0_error=[1.0, 1.0], betti1_error=[0.0, 0.0])
                     ).to_csv(m / 'eval_x_test' / 'per_image.csv', index=False)
    return d


_DEFAULTS = dict(preset='cpu', max_steps=0, split='test', seeds=[0], run_dir='')


def test_resolved_run_params(tmp_path):
    from vlmfilm_wb.core import resolved_run_params
    a = _ablate_run(tmp_path / 'a', dict(seeds=[0], max_steps=0), _DEFAULTS)
    assert resolved_run_params(a) == dict(preset='cpu', max_steps=0, split='test', seeds=[0], run_dir='')
    old = _ablate_run(tmp_path / 'old', dict(seeds=[0]))                        # a run folder from before 'defaults' was stored
    assert resolved_run_params(old) == dict(seeds=[0])


def _spelt_out_default_runs(tmp_path):
    return (_ablate_run(tmp_path / 'r1', dict(seeds=[0], max_steps=0), _DEFAULTS),      # -p max_steps 0 (the default)
            _ablate_run(tmp_path / 'r2', dict(seeds=[1]), _DEFAULTS))                    # nothing


def test_compare_resolved_params_helper(tmp_path, cli, monkeypatch):
    "Item 16 with the one-line change to analysis._run_params (nbs/16_analysis.ipynb, not ours to edit) applied here."
    from vlmfilm_wb import analysis
    from vlmfilm_wb.core import resolved_run_params
    monkeypatch.setattr(analysis, '_run_params', resolved_run_params)
    r1, r2 = _spelt_out_default_runs(tmp_path)
    rc, out, err = cli(['compare', r1, r2])
    assert rc == 0, err
    other = _ablate_run(tmp_path / 'r3', dict(seeds=[2], max_steps=5), _DEFAULTS)          # a real difference is still refused
    rc, out, err = cli(['compare', r1, other])
    assert rc == 2 and 'parameter max_steps is 5, but' in err, err


def test_compare_runs_that_spell_out_a_default(tmp_path, cli):
    "Item 16: `-p max_steps 0` vs nothing was refused: 'parameter max_steps is None, but … has 0'."
    r1, r2 = _spelt_out_default_runs(tmp_path)
    rc, out, err = cli(['compare', r1, r2])
    assert rc == 0, err


# ---------------------------------------------------------------- item 14: predict takes --first-pass / --prior; first_pass stored absolute
def test_predict_takes_first_pass_and_prior(tmp_path, monkeypatch, cli):
    "Item 14: the refusal of a moved first pass says 'pass --first-pass PATH', which predict did not have (argparse error)."
    import vlmfilm_wb.predict as P
    seen = {}
    def fake(ckpt, **kw): seen.update(kw); raise ConfigError('stop here')
    monkeypatch.setattr(P, 'load_run', fake)
    _png(tmp_path / 'a.png', (20, 20))
    rc, out, err = cli(['predict', tmp_path / 'm.ckpt', tmp_path / 'a.png', '--out', tmp_path / 'o', '--first-pass', 'fp.ckpt',
                         '--prior', 'pr.ckpt', '-q'])
    assert rc == 2 and 'stop here' in err, err
    assert (seen['first_pass'], seen['prior']) == ('fp.ckpt', 'pr.ckpt')


def test_first_pass_stored_absolute(tmp_path, monkeypatch):
    "Item 14: first_pass was stored as given (relative), so eval from another folder said it 'is missing now'."
    from vlmfilm_wb.config import run_config
    monkeypatch.chdir(tmp_path)
    cfg = run_config('smoke', {'first_pass': 'stage1/model.ckpt'})
    assert cfg.profile.first_pass == str(tmp_path / 'stage1' / 'model.ckpt')


# ---------------------------------------------------------------- items 6, 15: run -p dataset REL resolves against the caller's folder
def test_run_dataset_relative_to_the_callers_folder(workbench, tmp_path, monkeypatch):
    "Item 6: resolved against the project root (papermill's folder), so another folder of that name was trained on."
    from vlmfilm_wb.runs import claim_run
    (tmp_path / 'here' / 'mydata').mkdir(parents=True); monkeypatch.chdir(tmp_path / 'here')
    d = claim_run('train', {'dataset': 'mydata', 'max_steps': 1})
    p = json.loads((d / 'params.json').read_text())['params']
    assert p['dataset'] == str(tmp_path / 'here' / 'mydata') and p['max_steps'] == 1
    d = claim_run('train', {'dataset': 'synthetic_xca'})                         # a registry name stays a name
    assert json.loads((d / 'params.json').read_text())['params']['dataset'] == 'synthetic_xca'


def test_run_missing_relative_dataset_says_where_it_looked(workbench, tmp_path, monkeypatch, cli):
    "Item 15: 'unknown dataset … (or pass a folder path)' without saying where it looked; now refused before any run folder."
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(['run', 'train', '-p', 'dataset', 'sub/none', '-q'])
    assert rc == 2 and f"dataset 'sub/none': no folder {tmp_path / 'sub' / 'none'}" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'cache' / 'runs').exists() or not any((tmp_path / 'cache' / 'runs').iterdir())


def test_unknown_dataset_name_says_where_it_looked(tmp_path, monkeypatch):
    "Item 15: the registry refusal names the folder it also tried."
    from vlmfilm_wb.data import resolve_dataset
    from vlmfilm_wb.core import DataError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e: resolve_dataset('no_such_dataset')
    assert "unknown dataset 'no_such_dataset'; known: " in str(e.value) and f'no folder {tmp_path / "no_such_dataset"}' in str(e.value)


# ---------------------------------------------------------------- item 21: a hand-edited checkpoint section
@pytest.mark.parametrize('key, value, msg', [
    ('profiler_fingerprint', 'stats-v1', "profiler_fingerprint is a str ('stats-v1'): expected a mapping"),
    ('config', ['x'], "config is a list (['x']): expected a mapping")])
def test_hand_edited_checkpoint_fingerprint(smoke27, tmp_path, cli, key, value, msg):
    "Item 21: a string fingerprint raised AttributeError ('str' object has no attribute 'get') with a traceback."
    ck, db, _ = smoke27
    d = torch.load(ck, map_location='cpu', weights_only=True); d['vlmfilm_wb'][key] = value
    bad = tmp_path / 'edited.ckpt'; torch.save(d, bad)
    for cmd in (['eval', bad, '--split', 'val', '--limit', '1', '--db', db, '-q', '--out', tmp_path / 'e'],
                ['predict', bad, _png(tmp_path / 'a.png', (40, 40)), '--db', db, '-q', '--out', tmp_path / 'p']):
        rc, out, err = cli(cmd)
        assert rc == 2 and f'{bad}: {msg}' in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------- items 12 and 20: trainer settings Lightning refuses late, or hangs on
@pytest.mark.parametrize('args, msg', [
    (['-p', 'strategy', 'nonsense'], "train.strategy: 'nonsense' is not a Lightning strategy"),
    (['-p', 'devices', '0'], "train.devices: 0: expected a process count >= 1"),
    (['-p', 'devices', '[0, 0]'], "train.devices: [0, 0]: expected distinct GPU ids"),
    (['-p', 'accelerator', 'bogus'], "train.accelerator: 'bogus' is not one of"),
    (['-p', 'num_nodes', '2', '-p', 'strategy', 'ddp'], "train.num_nodes: 2 needs a launcher")])
def test_trainer_settings_refused_before_the_run_folder(tmp_path, cli, monkeypatch, args, msg):
    "Were Lightning tracebacks after the run folder existed (12: waited forever for the other node, Ctrl+C did not stop it)."
    for k in ('SLURM_NTASKS', 'WORLD_SIZE', 'MASTER_ADDR'): monkeypatch.delenv(k, raising=False)
    rc, out, err = cli(['train', '--preset', 'smoke', *args, '--out', tmp_path / 'run'])
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'run').exists()


def test_gpu_accelerator_without_a_gpu(tmp_path, cli):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    rc, out, err = cli(['train', '--preset', 'smoke', '-p', 'accelerator', 'gpu', '--out', tmp_path / 'run'])
    assert rc == 2 and "train.accelerator: 'gpu', but this machine has no CUDA GPU" in err and not (tmp_path / 'run').exists()


def test_more_processes_than_validation_images(tmp_path, cli):
    from PIL import Image
    for s in ('train', 'val'):
        for d in ('images', 'masks'): (tmp_path / 'ds' / s / d).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / 'ds' / s / 'images' / f'{i}.png')
            Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / 'ds' / s / 'masks' / f'{i}.png')
    rc, out, err = cli(['train', '--preset', 'smoke', '-p', 'dataset', tmp_path / 'ds', '-p', 'strategy', 'ddp', '-p', 'devices', '3',
                        '--out', tmp_path / 'run'])
    assert rc == 2 and '3 training processes but 2 validation images' in err and not (tmp_path / 'run').exists(), err


# ---------------------------------------------------------------- item 7: a resume after the dataset's files changed
def test_resume_refuses_changed_data(workbench, tmp_path):
    "Continued without a word; now refused naming the file, unless --allow-changed-data."
    import shutil, subprocess
    from vlmfilm_wb.data import resolve_dataset
    ds = tmp_path / 'ds'
    for s in ('train', 'val'): shutil.copytree(resolve_dataset('synthetic_xca') / s, ds / s)
    cli = [str(Path(sys.executable).parent / 'vlmfilm-wb')]
    run = interrupted_training(tmp_path / 'run', '-p', 'dataset', str(ds))
    assert (run / 'data_manifest.json').is_file()
    img = sorted((ds / 'train' / 'images').iterdir())[0]
    img.write_bytes(img.read_bytes() + b'changed')
    r = subprocess.run(cli + ['train', '--resume', str(run), '-q'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and f'train/images/{img.name} (changed)' in r.stderr and '--allow-changed-data' in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and (run / 'last.ckpt').is_file()
    r = subprocess.run(cli + ['train', '--resume', str(run), '--allow-changed-data', '-q'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and (run / 'model.ckpt').is_file(), r.stderr[-2000:]
