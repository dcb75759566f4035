"""README's results tables are rendered from committed result files (issue 24): `tools/readme.py --check` fails when a
committed result changes and README does not."""
import importlib.util, json, shutil, subprocess, sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def _readme_module(root: Path):
    spec = importlib.util.spec_from_file_location('readme_tool', ROOT/'tools'/'readme.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    m.root = root
    return m


def _project(tmp_path: Path) -> Path:
    "A scratch project: one ablate_stages-shaped results run (2 arms x 3 seeds) and an index notebook that renders it."
    run = tmp_path/'results'/'r'
    (run).mkdir(parents=True)
    (run/'params.json').write_text(json.dumps(dict(template='ablate_stages', params=dict(split='test', eval_limit=0, comparisons=[['b', 'a']]))))
    for arm, shift in (('a', 0.0), ('b', 0.1)):
        for s in range(3):
            m = run/'models'/f'{arm}_s{s}'; (m/'eval_x_test').mkdir(parents=True)
            (m/'train_summary.json').write_text(json.dumps(dict(name=arm)))
            (m/'eval_x_test'/'summary.json').write_text(json.dumps(dict(split='test', film_mode='off', trained_film_mode='off', limit=None)))
            pd.DataFrame(dict(name=['i0', 'i1', 'i2'], dice=[0.5 + shift + s / 100, 0.6 + shift, 0.7 + shift], cldice=0.7, betti0_error=1.0, betti1_error=0.0)).to_csv(m/'eval_x_test'/'per_image.csv', index=False)
    (tmp_path/'nbs').mkdir()
    cells = [dict(cell_type='markdown', id='a', metadata={}, source=['# t']),
             dict(cell_type='code', id='b', metadata={}, source=['#| results: compare results/r'], outputs=[], execution_count=None)]
    (tmp_path/'nbs'/'index.ipynb').write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))
    return tmp_path


def test_results_rendered_and_checked(tmp_path):
    root = _project(tmp_path)
    rd = _readme_module(root)
    txt = rd.render(root/'nbs'/'index.ipynb')
    assert '$ vlmfilm-wb compare results/r' in txt and 'b − a (3 vs 3 seeds): dice +0.1000' in txt, txt
    from vlmfilm_wb.analysis import compare_runs
    assert compare_runs([root/'results'/'r'])[0] in txt             # exactly what the command prints
    (root/'README.md').write_text(txt)
    csv = root/'results'/'r'/'models'/'b_s0'/'eval_x_test'/'per_image.csv'
    df = pd.read_csv(csv); df.loc[0, 'dice'] = 0.9; df.to_csv(csv, index=False)    # a committed result edited by hand
    assert rd.render(root/'nbs'/'index.ipynb') != txt


def test_readme_check_of_this_project():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
