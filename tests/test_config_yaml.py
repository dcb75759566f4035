"""Issue 28 item 2: one YAML per run. `--config FILE.yaml` on train, run, eval and sweep, `--print-config`, a run
folder's config.yaml that trains the same weights, one-line errors for a bad file, and the example configs in configs/."""
import json
from pathlib import Path

import pytest
import torch

from vlmfilm_wb.cli import main as cli_main
from vlmfilm_wb.core import yaml_load

ROOT = Path(__file__).resolve().parent.parent


def _cli(args, capsys):
    "Run `vlmfilm-wb ARGS` in this process: (exit code, stdout, stderr)."
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _weights(ckpt: Path) -> dict:
    from vlmfilm_wb.checkpoint import read_checkpoint
    return read_checkpoint(ckpt)['state_dict']


def test_config_yaml_trains_the_same_weights(workbench, tmp_path, capsys):
    "A smoke run, then `train --config RUN/config.yaml` into a new folder: bit-identical weights, and the same config printed."
    a, b = tmp_path / 'a', tmp_path / 'b'
    rc, out, err = _cli(['train', '--preset', 'smoke', '-p', 'seed', 3, '-p', 'lr', 0.002, '--out', a, '-q'], capsys)
    assert rc == 0, err
    cfg = a / 'config.yaml'
    assert cfg.is_file() and yaml_load(cfg.read_text())['train']['seed'] == 3
    rc, out, err = _cli(['train', '--config', cfg, '--print-config'], capsys)
    assert rc == 0, err
    strip = lambda t: [l for l in t.splitlines() if not l.startswith('#')]
    assert strip(out) == strip(cfg.read_text())                    # --print-config of the file: the file itself
    rc, out, err = _cli(['train', '--config', cfg, '--out', b, '-q'], capsys)
    assert rc == 0, err
    assert json.loads((b / 'params.json').read_text())['config_file'] == str(cfg.resolve())
    wa, wb = _weights(a / 'model.ckpt'), _weights(b / 'model.ckpt')
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), 'config.yaml did not train the same weights'
    assert strip((b / 'config.yaml').read_text()) == strip(cfg.read_text())
    # -p beats the file: another seed trains other weights
    rc, out, err = _cli(['train', '--config', cfg, '-p', 'seed', 4, '--print-config'], capsys)
    assert rc == 0 and yaml_load(out)['train']['seed'] == 4


@pytest.mark.parametrize('body, message', [
    ('train: {lrr: 0.1}', "unknown config key 'train.lrr' (did you mean 'train.lr'?)"),
    ('max_stpes: 3', "unknown config key 'max_stpes' (did you mean 'max_steps'?)"),
    ('train: {max_steps: many}', "train.max_steps: expected an integer, got 'many'"),
    ('flow: {flow: ddpm}', "flow.flow: 'ddpm' is not one of ['dfm', 'cfm'"),
    ('lr: -0.5', 'train.lr: -0.5 is out of range; expected > 0'),
    ('data: {patch_size: 0}', 'data.patch_size: 0 is out of range; expected >= 1'),
    ('- lr\n- 0.1', 'expected a mapping of run config keys'),
    ('train: 5', 'train: expected a mapping of TrainConfig fields'),
    ('name: !!python/object/apply:os.system [echo owned]', 'YAML tag tag:yaml.org,2002:python/object/apply:os.system refused'),
    ('lr: [0.1', 'not valid YAML'),
])
def test_train_config_errors_are_one_line(workbench, tmp_path, capsys, body, message):
    f = tmp_path / 'bad.yaml'; f.write_text(body + '\n')
    rc, out, err = _cli(['train', '--config', f, '--print-config'], capsys)
    assert rc == 2 and err.startswith(f'vlmfilm-wb: error: {f}') and message in err and err.count('\n') == 1, err


def test_train_config_missing_file(workbench, tmp_path, capsys):
    rc, out, err = _cli(['train', '--config', tmp_path / 'none.yaml'], capsys)
    assert rc == 2 and err.strip() == f'vlmfilm-wb: error: {tmp_path / "none.yaml"}: run config file not found'


def test_run_and_sweep_config(workbench, tmp_path, capsys):
    "run / sweep --config: the template's parameters (RunConfig fields into overrides), -p and the grid beat the file."
    f = tmp_path / 'exp.yaml'
    f.write_text('preset: smoke\nseed: 2\ntrain: {lr: 0.01}\n')
    rc, out, err = _cli(['run', 'train', '--config', f, '-p', 'seed', 5, '--print-config'], capsys)
    assert rc == 0, err
    p = yaml_load(out)
    assert (p['preset'], p['seed'], p['overrides'], p['eval_limit']) == ('smoke', 5, {'train.lr': 0.01}, 0)
    (tmp_path / 'again.yaml').write_text(out)                       # the printed parameters load again
    rc, out2, err = _cli(['run', 'train', '--config', tmp_path / 'again.yaml', '--print-config'], capsys)
    assert rc == 0 and yaml_load(out2) == p
    g = tmp_path / 'grid.yaml'; g.write_text('grid: {seed: [0, 1]}\nparams: {name: g}\n')
    rc, out, err = _cli(['sweep', 'train', '--grid', g, '--config', f, '--print-config'], capsys)
    assert rc == 0, err
    r = yaml_load(out)
    assert r['grid'] == {'seed': [0, 1]} and (r['params']['name'], r['params']['preset'], r['params']['overrides']) == ('g', 'smoke', {'train.lr': 0.01})
    f.write_text('sed: 2\n')
    rc, out, err = _cli(['run', 'train', '--config', f], capsys)
    assert rc == 2 and "'sed' is neither a parameter of template 'train' nor a RunConfig field (did you mean 'seed'?)" in err
    rc, out, err = _cli(['sweep', 'train', '--grid', g, '--config', f], capsys)
    assert rc == 2 and 'exp.yaml' in err and "'sed'" in err


def test_eval_config(workbench, tmp_path, capsys):
    "eval --config: its options by name (a checkpoint too); a flag on the command line beats the file."
    f = tmp_path / 'ev.yaml'
    f.write_text('checkpoint: runs/x/model.ckpt\nsplit: val\nsteps: 8\nfilm-mode: shuffle\n')
    rc, out, err = _cli(['eval', '--config', f, '--steps', 3, '--print-config'], capsys)
    assert rc == 0, err
    o = yaml_load(out)
    assert (o['checkpoint'], o['split'], o['steps'], o['film_mode'], o['fov']) == ('runs/x/model.ckpt', 'val', 3, 'shuffle', False)
    (tmp_path / 'again.yaml').write_text(out)
    rc, out2, err = _cli(['eval', '--config', tmp_path / 'again.yaml', '--print-config'], capsys)
    assert rc == 0 and yaml_load(out2) == o
    f.write_text('steps: [8]\n')
    rc, out, err = _cli(['eval', 'm.ckpt', '--config', f], capsys)
    assert rc == 2 and err.strip() == f"vlmfilm-wb: error: {f}: steps: expected an integer, got [8]"
    f.write_text('split: val\n')
    rc, out, err = _cli(['eval', '--config', f], capsys)
    assert rc == 2 and 'eval needs a checkpoint' in err


EXAMPLES = sorted((ROOT / 'configs').glob('*.yaml'))


def test_example_configs_exist():
    assert {p.stem for p in EXAMPLES} >= {'demo', 'xca_cimat80_cpu', 'film_on', 'refine'}


@pytest.mark.parametrize('path', EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads_and_validates(workbench, path, capsys):
    "Every example config validates and resolves (a refinement config with its placeholder prior given by -p)."
    from vlmfilm_wb.config import read_run_config, run_config_from, prepared_config
    preset, ov = read_run_config(path)
    extra = {'prior': str(path)} if 'refine' in (ov.get('flow') or ov.get('flow.flow') or '') else {}
    cfg = prepared_config(run_config_from(path, overrides=extra))
    assert cfg.train.max_steps >= 1 and preset in (None, 'smoke', 'demo', 'cpu', 'gpu')
