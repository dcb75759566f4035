"""`vlmfilm-wb compare`: seeds of one experiment pooled across ablate_stages run folders (e.g. one per Slurm job or session)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from vlmfilm_wb.cli import main as cli_main
from vlmfilm_wb.core import write_json


def _run(d: Path, seeds, shift, comparisons=(('b', 'a'),), preset='cpu'):
    write_json(d/'params.json', dict(template='ablate_stages', params=dict(split='test', eval_limit=0, seeds=list(seeds), preset=preset,
                                                                          comparisons=[list(c) for c in comparisons])))
    g = np.random.default_rng(len(seeds))
    for arm in ('a', 'b'):
        for s in seeds:
            m = d/'models'/f'{arm}_s{s}'
            write_json(m/'train_summary.json', dict(name=arm))
            write_json(m/'eval_x_test'/'summary.json', dict(split='test', film_mode='off', trained_film_mode='off', limit=None))
            v = 0.6 + g.normal(0, 0.01, 20) + (shift if arm == 'b' else 0.0)
            pd.DataFrame(dict(name=[f'i{i}' for i in range(20)], dice=v, cldice=v, betti0_error=np.full(20, 3.0),
                              betti1_error=np.zeros(20))).to_csv(m/'eval_x_test'/'per_image.csv', index=False)
    return d


def test_compare_pools_seeds_across_runs(tmp_path, capsys):
    r1, r2 = _run(tmp_path/'r1', [0, 1], 0.1), _run(tmp_path/'r2', [2], 0.1)
    assert cli_main(['compare', str(r1), str(r2), '--out', str(tmp_path/'c.json')]) == 0
    out = capsys.readouterr().out
    assert 'b − a (3 vs 3 seeds): dice +0.1' in out and 'better' in out
    c = json.loads((tmp_path/'c.json').read_text())
    assert c['seeds'] == {'a': [0, 1, 2], 'b': [0, 1, 2]} and abs(c['comparisons'][0]['dice_diff'] - 0.1) < 0.01


def test_compare_refuses_an_unknown_arm_and_a_foreign_run(tmp_path, capsys):
    r1 = _run(tmp_path/'r1', [0, 1], 0.0)
    assert cli_main(['compare', str(r1), '--pair', 'b:zzz']) == 2
    assert "--pair b:zzz: expected A:B with arms among ['a', 'b']" in capsys.readouterr().err
    other = _run(tmp_path/'r2', [2], 0.0, preset='gpu')
    assert cli_main(['compare', str(r1), str(other)]) == 2
    assert "parameter preset is 'gpu', but" in capsys.readouterr().err
