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


def test_slim_copy_keeps_what_compare_reads_and_drops_checkpoints(tmp_path, capsys):
    import subprocess, sys
    r = _run(tmp_path/'r', [0, 1, 2], 0.05)
    (r/'models'/'a_s0'/'model.ckpt').write_bytes(b'x' * 1000)
    (r/'models'/'b_s2'/'train_summary.json').unlink()                  # still training: not copied
    assert cli_main(['compare', str(r), '--out', str(tmp_path/'full.json')]) == 0
    p = subprocess.run([sys.executable, 'tools/slim_run.py', str(r), str(tmp_path/'slim')], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1])
    assert p.returncode == 0, p.stderr
    assert not list((tmp_path/'slim').rglob('*.ckpt')) and not (tmp_path/'slim'/'models'/'b_s2').exists()
    assert cli_main(['compare', str(tmp_path/'slim'), '--out', str(tmp_path/'slim.json')]) == 0
    full, slim = (json.loads((tmp_path/f).read_text()) for f in ('full.json', 'slim.json'))
    assert full['arms'] == slim['arms'] and full['comparisons'] == slim['comparisons'] and slim['seeds']['b'] == [0, 1]


def test_evals_minus_compares_two_sets_of_evaluation_folders(tmp_path, capsys):
    "`evals A... --minus B...`: the table of all, then A − B pooled over A's and B's seeds; a foreign image set is one line, exit 2."
    def ev(name, shift, seed, names=None):
        d = tmp_path/name
        write_json(d/'summary.json', dict(flow='supervised', sample_steps=1, nfe_per_window=1, n_images=20,
                                          metrics={m: dict(mean=0.6, lo=0.5, hi=0.7) for m in ('dice', 'cldice', 'betti0_error', 'betti1_error')}))
        v = 0.6 + np.random.default_rng(seed).normal(0, 0.01, 20) + shift
        pd.DataFrame(dict(name=names or [f'i{i}' for i in range(20)], dice=v, cldice=v, centerline_coverage=v,
                          betti0_error=np.full(20, 3.0 - 10 * shift))).to_csv(d/'per_image.csv', index=False)
        return str(d)
    A, B = [ev('a0', 0.1, 0), ev('a1', 0.1, 1)], [ev('b0', 0.0, 2), ev('b1', 0.0, 3)]
    assert cli_main(['evals', *A, '--minus', *B]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in out[2:6]] == ['a0', 'a1', 'b0', 'b1']
    assert out[-1].startswith('a0 (+1) − b0 (+1) (2 vs 2 seeds): dice +0.1') and 'betti0_error -1.0000 [-1.0000, -1.0000] better' in out[-1]
    assert cli_main(['evals', *A, '--minus', ev('c0', 0.0, 4, names=[f'j{i}' for i in range(20)])]) == 2
    assert 'evaluated on different images' in capsys.readouterr().err
