"""`vlmfilm-wb predict` (issue 17): DICOM reading (8/12-bit, single/multi-frame, MONOCHROME1/2), frame selection, and
parity with evaluation on a folder of PNGs plus a multi-frame DICOM run. Smoke-sized: a 4-step model, synthetic data."""
import csv
from pathlib import Path

import numpy as np
import pytest
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, XRayAngiographicImageStorage, generate_uid


def write_dicom(path, frames, bits, photometric='MONOCHROME2'):
    """An uncompressed XA file of `frames` (F, H, W), written here with pydicom (not with the package's code)."""
    frames = np.asarray(frames)
    F, H, W = frames.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = XRayAngiographicImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = XRayAngiographicImageStorage, meta.MediaStorageSOPInstanceUID, 'XA'
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = H, W, 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = (8 if bits == 8 else 16), bits, bits - 1, 0
    if F > 1:
        ds.NumberOfFrames = F
    ds.PixelData = frames.astype(np.uint8 if bits == 8 else np.uint16).tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return Path(path)


@pytest.mark.parametrize('bits,photometric,stored,expected', [
    (8, 'MONOCHROME2', [0, 100, 255], [0, 100, 255]),
    (8, 'MONOCHROME1', [0, 100, 255], [255, 155, 0]),
    (12, 'MONOCHROME2', [0, 1000, 4095], [0, 62, 255]),       # 1000 * 255 / 4095 = 62.27
    (12, 'MONOCHROME1', [0, 1000, 4095], [255, 193, 0]),
])
def test_dicom_bit_depth_and_photometric(tmp_path, bits, photometric, stored, expected):
    from vlmfilm_wb.predict import read_dicom
    (u8, info), = read_dicom(write_dicom(tmp_path / 'a.dcm', [[stored]], bits, photometric))
    assert u8.dtype == np.uint8 and u8.tolist() == [expected]
    assert (info['bits'], info['photometric'], info['n_frames']) == (bits, photometric, 1)


def test_dicom_12bit_scaled_by_bits_stored_not_by_values(tmp_path):
    """A dim 12-bit frame (max 1000) keeps its place on the 12-bit scale (not stretched to 255)."""
    from vlmfilm_wb.predict import read_dicom
    (u8, _), = read_dicom(write_dicom(tmp_path / 'dim.dcm', [[[0, 500, 1000]]], 12))
    assert u8.tolist() == [[0, 31, 62]]


@pytest.mark.parametrize('spec,want', [('all', [0, 1, 2, 3]), ('2', [2]), ('1:3', [1, 2]), ('-1:', [3])])
def test_multiframe_selection(tmp_path, spec, want):
    from vlmfilm_wb.predict import load_frames
    cine = np.stack([np.full((5, 7), 1000 * k + 7) for k in range(4)])
    fr = load_frames(write_dicom(tmp_path / 'run.dcm', cine, 12), spec)
    assert fr.names == [f'run_f{k:04d}' for k in want]
    assert [int(fr.raw(i)[0][0, 0]) for i in range(len(fr))] == [round((1000 * k + 7) * 255 / 4095) for k in want]


def test_bad_frames_exit_code_2(tmp_path, capsys):
    from vlmfilm_wb.cli import main
    p = write_dicom(tmp_path / 'run.dcm', np.zeros((3, 4, 4)), 8)
    assert main(['predict', str(tmp_path / 'no.ckpt'), str(p), '--out', str(tmp_path / 'o'), '--frames', '9']) == 2
    assert "frames '9' selects no frame of 3" in capsys.readouterr().err


def test_predict_folder_and_cine_parity_with_evaluation(workbench):
    """CLI on a folder of PNGs + a 12-bit MONOCHROME1 cine: PNGs/CSV written; each PNG's probability map is the one the
    evaluation path (`predict_and_score` on the dataset) gives for that image."""
    import torch
    from vlmfilm_wb.cli import main
    from vlmfilm_wb.data import VesselImages, resolve_dataset
    from vlmfilm_wb.infer import predict_and_score
    from vlmfilm_wb.train import run_config, train, segmenter_from_checkpoint
    torch.manual_seed(0)
    db = workbench / 'p.sqlite'
    train(run_config('smoke', name='p'), workbench / 'run', store=db, progress=False)
    ck = workbench / 'run' / 'model.ckpt'
    ds = VesselImages(resolve_dataset('synthetic_xca'), 'val')
    (workbench / 'pngs').mkdir()
    for i in (0, 1):
        Image.fromarray(ds.raw(i)[0]).save(workbench / 'pngs' / f'{ds.names[i]}.png')
    cine = np.stack([np.round((255 - ds.raw(i)[0].astype(float)) * 4095 / 255) for i in range(3)])
    write_dicom(workbench / 'cine.dcm', cine, 12, 'MONOCHROME1')
    out = workbench / 'out'
    assert main(['predict', str(ck), str(workbench / 'pngs'), str(workbench / 'cine.dcm'), '--out', str(out),
                 '--frames', '1:3', '--db', str(db), '-q']) == 0
    rows = list(csv.DictReader(open(out / 'predictions.csv')))
    names = [ds.names[0], ds.names[1], 'cine_f0001', 'cine_f0002']
    assert [r['name'] for r in rows] == names
    for sub in ('prob', 'mask', 'overlay'):
        assert sorted(p.stem for p in (out / sub).iterdir()) == sorted(names)
    assert np.asarray(Image.open(out / 'overlay' / 'cine_f0001.png')).shape == ds.raw(1)[0].shape + (3,)
    seg, _, _ = segmenter_from_checkpoint(ck, store=db)
    for i in (0, 1):
        ref = predict_and_score(seg, ds, i)
        assert np.array_equal(np.asarray(Image.open(out / 'prob' / f'{ds.names[i]}.png')), np.round(ref['prob'] * 255).astype(np.uint8))
        assert int(rows[i]['vessel_area_px']) == int(ref['pred'].sum())
    for r in rows:
        assert int(r['nfe']) == int(r['nfe_per_window']) * int(r['windows']) > 0
        assert int(r['components']) >= (int(r['vessel_area_px']) > 0)
