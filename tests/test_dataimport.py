"""Issue 28 item 3: `vlmfilm-wb data import PATH --format nnunet|msd|folder` on small datasets made here, the imported
dataset trained by name, and every bad input refused with one line (exit 2) before anything is written."""
import csv, json, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmfilm_wb.cli import main as cli_main
from vlmfilm_wb.data import VesselImages, verify_dataset

SIZE = (64, 72)     # H, W: at least the smoke preset's 64 px patch


def _cli(args, capsys):
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _img(rng, size=SIZE):
    return Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8))


def _label(i, size=SIZE, values=(1, 2)):
    "Case i: label values[0] in rows 2i..2i+3, values[1] in column i + 5."
    lab = np.zeros(size, np.uint8); lab[2 * i:2 * i + 4] = values[0]; lab[:, i + 5] = values[1]
    return lab


def nnunet_dataset(root: Path, n=6, n_test=2) -> Path:
    rng = np.random.default_rng(0)
    for d in ('imagesTr', 'labelsTr', 'imagesTs'): (root / d).mkdir(parents=True)
    for i in range(n):
        _img(rng).save(root / 'imagesTr' / f'case_{i:03d}_0000.png')
        Image.fromarray(_label(i)).save(root / 'labelsTr' / f'case_{i:03d}.png')
    for i in range(n_test): _img(rng).save(root / 'imagesTs' / f'new_{i:03d}_0000.png')
    (root / 'dataset.json').write_text(json.dumps(dict(channel_names={'0': 'XA'}, numTraining=n, file_ending='.png',
                                                       labels={'background': 0, 'artery': 1, 'vein': 2})))
    return root


def msd_dataset(root: Path, n=5, ext='.png', write=None) -> Path:
    "An MSD task: dataset.json lists the training pairs and the test images (no channel suffix), labels {value: name}."
    rng = np.random.default_rng(1)
    for d in ('imagesTr', 'labelsTr', 'imagesTs'): (root / d).mkdir(parents=True)
    write = write or (lambda a, p: Image.fromarray(a).save(p))
    for i in range(n):
        write(np.asarray(_img(rng)), root / 'imagesTr' / f'xa_{i}{ext}')
        write(_label(i, values=(1, 1)), root / 'labelsTr' / f'xa_{i}{ext}')
    write(np.asarray(_img(rng)), root / 'imagesTs' / f'xa_9{ext}')
    (root / 'dataset.json').write_text(json.dumps(dict(
        name='XA', modality={'0': 'XA'}, labels={'0': 'background', '1': 'vessel'}, numTraining=n,
        training=[dict(image=f'./imagesTr/xa_{i}{ext}', label=f'./labelsTr/xa_{i}{ext}') for i in range(n)],
        test=[f'./imagesTs/xa_9{ext}'])))
    return root


def test_import_nnunet_and_train_on_it(workbench, tmp_path, capsys):
    src = nnunet_dataset(tmp_path / 'Dataset011_XCA')
    rc, out, err = _cli(['data', 'import', src, '--format', 'nnunet', '--label', '1,2', '--val-fraction', 0.34, '--seed', 3, '-q'], capsys)
    assert rc == 0, err
    dest = workbench / 'data' / 'Dataset011_XCA'
    assert f'Dataset011_XCA: train 4, unlabeled 2, val 2 images in {dest}' in out and '-p dataset Dataset011_XCA' in out
    rows = list(csv.DictReader(open(dest / 'manifest.csv')))
    assert verify_dataset(dest, rows=rows) == [] and len(rows) == 2 * 6 + 2
    assert {r['source_path'] for r in rows if r['path'].startswith('unlabeled/')} == {'imagesTs/new_000_0000.png', 'imagesTs/new_001_0000.png'}
    ds = VesselImages(dest, 'val')
    for name, (img, m) in zip(ds.names, (ds.raw(i) for i in range(len(ds)))):
        i = int(name[-3:])
        assert np.array_equal(m, _label(i) > 0)                       # labels 1 and 2 merged, nothing else
        assert np.array_equal(img, np.asarray(Image.open(src / 'imagesTr' / f'{name}_0000.png')))
    rc, out, err = _cli(['data', 'list'], capsys)
    assert rc == 0 and 'Dataset011_XCA imported (nnunet)' in out
    rc, out, err = _cli(['data', 'import', src, '--format', 'nnunet', '--label', '1', '-q'], capsys)   # a second import: refused
    assert rc == 2 and 'pass --force' in err
    rc, out, err = _cli(['data', 'import', src, '--format', 'nnunet', '--label', 'artery', '--force', '-q'], capsys)
    assert rc == 0, err
    tr = VesselImages(dest, 'train')
    assert all(np.array_equal(m, _label(int(n[-3:])) == 1) for n, m in zip(tr.names, tr.masks))       # the artery only
    # the imported dataset trains by name (the smoke preset: a few seconds)
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'dataset', 'Dataset011_XCA', '--out', tmp_path / 'run', '-q'], capsys)
    assert rc == 0, err
    assert 'val Dice' in out and (tmp_path / 'run' / 'model.ckpt').is_file()


def test_import_msd(workbench, tmp_path, capsys):
    src = msd_dataset(tmp_path / 'Task08_XA')
    rc, out, err = _cli(['data', 'import', src, '--format', 'msd', '--name', 'xa', '--val-fraction', 0.2, '--test-fraction', 0.2, '-q'], capsys)
    assert rc == 0, err                                               # one foreground label: no --label needed
    dest = workbench / 'data' / 'xa'
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ['test', 'train', 'unlabeled', 'val']
    assert [len(list((dest / s / 'images').iterdir())) for s in ('train', 'val', 'test', 'unlabeled')] == [3, 1, 1, 1]
    assert VesselImages(dest, 'test').masks[0].sum() == 4 * SIZE[1] + SIZE[0] - 4
    rc, out, err = _cli(['data', 'summary', dest], capsys)
    assert rc == 0 and '(no masks)' in out


def test_import_folder(workbench, tmp_path, capsys):
    src = tmp_path / 'mine'
    for d in ('images', 'masks', 'unlabeled'): (src / d).mkdir(parents=True)
    rng = np.random.default_rng(2)
    for i in range(4):
        _img(rng).save(src / 'images' / f'f{i}.tif')
        Image.fromarray((_label(i, values=(1, 1)) * 255).astype(np.uint8)).save(src / 'masks' / f'f{i}.png')
    _img(rng).save(src / 'unlabeled' / 'u0.png')
    rc, out, err = _cli(['data', 'import', src, '--format', 'folder', '--val-fraction', 0.25, '-q'], capsys)
    assert rc == 0, err
    dest = workbench / 'data' / 'mine'
    train = sorted((dest / 'train' / 'images').iterdir())
    assert len(train) == 3 and all(f.suffix == '.tif' and f.read_bytes() == (src / 'images' / f.name).read_bytes() for f in train)   # copied as they are
    assert 'mask: label 255' in out
    # a label map in a folder: the label must be chosen, and must be one of the values found
    Image.fromarray(_label(0)).save(src / 'masks' / 'f0.png')
    rc, out, err = _cli(['data', 'import', src, '--format', 'folder', '--name', 'm2', '-q'], capsys)
    assert rc == 2 and err.strip() == f'vlmfilm-wb: error: {src}: 3 labels (1, 2, 255): choose one with --label K, or merge several with --label K1,K2'
    rc, out, err = _cli(['data', 'import', src, '--format', 'folder', '--name', 'm2', '--label', '7', '-q'], capsys)
    assert rc == 2 and "unknown label '7'; the labels are 1, 2, 255" in err


@pytest.mark.parametrize('make, fmt, message', [
    (lambda r: (nnunet_dataset(r), (r / 'dataset.json').unlink()), 'nnunet', 'no dataset.json: not an nnU-Net v2 dataset'),
    (lambda r: (msd_dataset(r), (r / 'dataset.json').unlink()), 'msd', 'no dataset.json: not a Medical Segmentation Decathlon task'),
    (lambda r: (nnunet_dataset(r), (r / 'labelsTr' / 'case_002.png').unlink()), 'nnunet', "labelsTr: no label for image case_002_0000.png"),
    (lambda r: (msd_dataset(r), (r / 'labelsTr' / 'xa_1.png').unlink()), 'msd', 'label ./labelsTr/xa_1.png of image ./imagesTr/xa_1.png not found'),
    (lambda r: (nnunet_dataset(r), Image.fromarray(np.zeros((8, 8), np.uint8)).save(r / 'labelsTr' / 'case_002.png')), 'nnunet',
     'case_002.png: label size 8x8 (WxH) does not match image case_002_0000.png size 72x64'),
    (lambda r: (nnunet_dataset(r), Image.fromarray(np.zeros(SIZE, np.uint8)).save(r / 'imagesTr' / 'case_000_0001.png')), 'nnunet',
     "case_000_0001.png: channel 0001 of case 'case_000': a multi-channel case"),
    (lambda r: (msd_dataset(r), (r / 'dataset.json').write_text(json.dumps(dict(json.loads((r / 'dataset.json').read_text()),
     modality={'0': 'T1', '1': 'T2'})))), 'msd', 'dataset.json: a multi-channel case (2 channels: T1, T2)'),
    (lambda r: (nnunet_dataset(r), Image.fromarray(np.zeros(SIZE, np.uint8)).save(
        r / 'imagesTr' / 'case_001_0000.tif', save_all=True, append_images=[Image.fromarray(np.zeros(SIZE, np.uint8))]),
        (r / 'imagesTr' / 'case_001_0000.png').unlink(),
        (r / 'dataset.json').write_text(json.dumps(dict(channel_names={'0': 'XA'}, labels={'background': 0, 'a': 1, 'v': 2})))),
     'nnunet', 'case_001_0000.tif: a 3D volume (2 frames)'),
    (lambda r: nnunet_dataset(r), 'nnunet', "unknown label '4'; the labels are 1 (artery), 2 (vein)"),
    (lambda r: nnunet_dataset(r), 'voc', "--format 'voc': expected one of nnunet, msd, folder"),
])
def test_bad_inputs_one_line(workbench, tmp_path, capsys, make, fmt, message):
    src = tmp_path / 'ds'; src.mkdir(); make(src)
    rc, out, err = _cli(['data', 'import', src, '--format', fmt, '--label', 4 if 'unknown label' in message else 1, '-q'], capsys)
    assert rc == 2 and message in err and err.count('\n') == 1 and err.startswith('vlmfilm-wb: error: '), err
    assert not (workbench / 'data').exists() or not any((workbench / 'data').iterdir())    # nothing written


def test_nifti_without_nibabel_is_one_line(workbench, tmp_path, capsys, monkeypatch):
    src = msd_dataset(tmp_path / 'Task09', ext='.nii.gz', write=lambda a, p: p.write_bytes(b'not read'))
    monkeypatch.setitem(sys.modules, 'nibabel', None)                 # as if not installed
    rc, out, err = _cli(['data', 'import', src, '--format', 'msd', '-q'], capsys)
    assert rc == 2 and 'reading NIfTI needs the package nibabel, which is not installed' in err and err.count('\n') == 1


def test_import_msd_nifti(workbench, tmp_path, capsys):
    "NIfTI 2D and single-slice files (x, y indexing transposed to rows, columns); a 3D volume refused."
    nib = pytest.importorskip('nibabel')
    save = lambda a, p: nib.save(nib.Nifti1Image(np.ascontiguousarray(a.T[:, :, None] if a.ndim == 2 else a).astype(np.int16), np.eye(4)), str(p))
    src = msd_dataset(tmp_path / 'Task10_XA', ext='.nii.gz', write=save)
    rc, out, err = _cli(['data', 'import', src, '--format', 'msd', '--name', 'xa_nii', '-q'], capsys)
    assert rc == 0, err
    ds = VesselImages(workbench / 'data' / 'xa_nii', 'train')
    i = int(ds.names[0][-1])
    assert ds.images[0].shape == SIZE and np.array_equal(ds.masks[0], _label(i, values=(1, 1)) > 0)
    nib.save(nib.Nifti1Image(np.zeros((72, 64, 3), np.int16), np.eye(4)), str(src / 'labelsTr' / 'xa_2.nii.gz'))
    rc, out, err = _cli(['data', 'import', src, '--format', 'msd', '--name', 'xa_3d', '-q'], capsys)
    assert rc == 2 and 'xa_2.nii.gz: a 3D volume (72x64x3)' in err
