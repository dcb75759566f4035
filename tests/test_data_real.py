"""Dataset installation and reading against the real data in ../shared/datasets."""
import shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from vlmfilm_wb.core import DataError
from vlmfilm_wb.data import VesselImages, get_dataset, verify_dataset, read_manifest, dataset_summary

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]   # the installed console script


def test_get_xca_cimat80_from_shared_folder_cli(shared_datasets, workbench):
    r = subprocess.run(CLI + ['data', 'get', 'xca_cimat80', '--source', str(shared_datasets / 'xca_cimat80')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'xca_cimat80: 80 verified pairs' in r.stdout
    dest = workbench / 'data' / 'xca_cimat80'
    assert verify_dataset(dest, 'xca_cimat80') == []
    assert {p.name: len(list((p / 'images').iterdir())) for p in dest.iterdir()} == {'train': 32, 'val': 8, 'test': 40}


def test_corrupted_source_file_is_named(shared_datasets, workbench, tmp_path):
    src = tmp_path / 'src'
    shutil.copytree(shared_datasets / 'xca_cimat80', src)
    bad = src / 'test' / 'masks' / 'testing_7.png'
    bad.write_bytes(bad.read_bytes()[:-10])                      # truncated file
    r = subprocess.run(CLI + ['data', 'get', 'xca_cimat80', '--source', str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert 'test/masks/testing_7.png: checksum mismatch' in r.stderr
    assert not (workbench / 'data' / 'xca_cimat80').exists()     # nothing half-installed


def test_installed_copy_that_was_modified_is_refused(shared_datasets, workbench):
    dest = get_dataset('xca_cimat80', shared_datasets / 'xca_cimat80', progress=False)
    victim = next((dest / 'val' / 'images').iterdir())
    victim.write_bytes(b'x')
    with pytest.raises(DataError, match=f'val/images/{victim.name}: checksum mismatch'):
        get_dataset('xca_cimat80', shared_datasets / 'xca_cimat80', progress=False)
    assert get_dataset('xca_cimat80', shared_datasets / 'xca_cimat80', force=True, progress=False) == dest


def test_rossa_manifest_matches_shared_copy(shared_datasets):
    assert verify_dataset(shared_datasets / 'rossa', 'rossa') == []
    assert sum('/images/' in r['path'] for r in read_manifest('rossa')) == 918


def test_real_images_read_untransposed_with_binary_masks(shared_datasets):
    ds = VesselImages(shared_datasets / 'xca_cimat80', 'val')
    assert len(ds) == 8
    img, m = ds.raw(0)
    assert img.shape == m.shape == (300, 300) and img.dtype == np.uint8 and m.dtype == bool
    frac = np.mean([m.mean() for m in ds.masks])
    assert 0.02 < frac < 0.12                                     # README: mean 5.6 % vessel
    item = ds[0]
    assert item['image'].min() >= -1 and item['image'].max() <= 1


def test_summary_of_real_dataset(shared_datasets):
    rows = {r['split']: r for r in dataset_summary(shared_datasets / 'rossa')}
    assert {k: v['images'] for k, v in rows.items()} == {'test': 100, 'train': 100, 'train_sam': 618, 'val': 100}
    assert rows['test']['size'] == '320x320'
