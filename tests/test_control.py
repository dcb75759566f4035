"""The positive control end to end: a table-conditioned model on a small synthetic_xca_select copy, the swap test,
the audit CLI, and a changed table refused at evaluation (no stale condition behind a checkpoint)."""
import json, subprocess, sys
from pathlib import Path

import pytest

from vlmfilm_wb.core import CheckpointError
from vlmfilm_wb.synthetic import SynthConfig, make_synthetic_dataset
from vlmfilm_wb.train import run_config, train
from vlmfilm_wb.evaluate import evaluate

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


@pytest.fixture()
def control(workbench):
    "A small protocol dataset and a smoke model trained on it with the table profiler (FiLM on)."
    sel = make_synthetic_dataset(workbench / 'sel', SynthConfig(size=96, n_train=4, n_val=2, n_test=6, target='protocol'), progress=False)
    cfg = run_config('smoke', dataset=str(sel), profiler='table', feature_mode='table', table_path=str(sel), table_fields=['protocol'],
                     film_mode='on', film_stages=[0, 1], name='control', window=96)
    s = train(cfg, workbench / 'run', store=workbench / 'p.sqlite', progress=False)
    return sel, Path(s['checkpoint']), workbench / 'p.sqlite'


def test_table_model_swap_audit_and_stale_table(control):
    sel, ck, db = control
    fp = json.loads(json.dumps(__import__('torch').load(ck, map_location='cpu', weights_only=False)['vlmfilm_wb']['profiler_fingerprint']))
    assert fp['backend'] == 'table' and fp['fields'] == ['protocol'] and set(fp['tables']) == {'train/meta.csv', 'val/meta.csv', 'test/meta.csv'}
    s = evaluate(ck, split='test', store=db, progress=False, save_png=False, film_mode='swap', swaps=2)
    assert s['swap']['k'] == 2 and set(s['swap']['metrics']) == {'dice', 'cldice', 'betti0_error', 'betti1_error'}
    assert all(n not in d for n, d in s['swap']['donors'].items())        # never its own condition
    r = subprocess.run(CLI + ['profiles', 'audit', '--dataset', str(sel), '--split', 'test', '--backend', 'table', '-p', 'table_path', str(sel),
                              '-p', 'table_fields', '[protocol]', '--baseline', str(ck), '--db', str(db), '--out', str(sel.parent / 'audit'),
                              '--folds', '3', '-q'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    a = json.loads((sel.parent / 'audit' / 'audit.json').read_text())
    assert a['effective_rank'] == pytest.approx(1.0) and set(a['predict_errors']) == {'dice_error', 'betti0_error'}
    # relabel one test image: the table's hash changes, so the checkpoint's condition no longer matches
    meta = sel / 'test' / 'meta.csv'
    lines = meta.read_text().splitlines()
    f, p, m = lines[1].split(',')
    lines[1] = ','.join([f, 'all' if p == 'major' else 'major', '0' if m == '1' else '1'])
    meta.write_text('\n'.join(lines) + '\n')
    with pytest.raises(CheckpointError, match='profiler differs'):
        evaluate(ck, split='test', store=db, progress=False, save_png=False)
    r = subprocess.run(CLI + ['eval', str(ck), '--db', str(db), '-q', '--no-png'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and 'profiler differs' in r.stderr
