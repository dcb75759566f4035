"""Shared pytest fixtures: the real datasets beside the checkout, and a scratch workbench root per test."""
import contextlib, os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared_root() -> Path:
    from vlmfilm_wb.core import load_settings
    return load_settings(ROOT).shared_datasets


@pytest.fixture(scope='session')
def shared_datasets() -> Path:
    """`../shared/datasets` (settings `shared_datasets`); CI sets VLMFILM_WB_REQUIRE_SHARED=1 so a missing copy fails."""
    p = _shared_root()
    if not (p / 'xca_cimat80').is_dir():
        msg = f'real datasets not found at {p}'
        if os.environ.get('VLMFILM_WB_REQUIRE_SHARED') == '1': pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture()
def workbench(tmp_path, monkeypatch) -> Path:
    """A scratch project root (data, cache, runs under tmp_path) so tests never touch the user's data/ or cache/."""
    monkeypatch.setenv('VLMFILM_WB_DATA_ROOT', str(tmp_path / 'data'))
    monkeypatch.setenv('VLMFILM_WB_CACHE_DIR', str(tmp_path / 'cache'))
    monkeypatch.setenv('VLMFILM_WB_RUNS_DIR', str(tmp_path / 'cache' / 'runs'))
    monkeypatch.setenv('VLMFILM_WB_SHARED_DATASETS', str(_shared_root()))
    return tmp_path


@pytest.fixture()
def cli(capsys):
    "`cli(ARGS)` runs `vlmfilm-wb ARGS` in this process: (exit code, stdout, stderr)."
    from vlmfilm_wb.cli import main as cli_main
    def run(args):
        rc = cli_main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err
    return run


@contextlib.contextmanager
def smoke_checkpoint(tmp_path_factory, name: str):
    "A smoke checkpoint trained in a scratch workbench (data, cache, runs under it, set for as long as the context lasts): (checkpoint, profile db, root)."
    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in dict(DATA_ROOT=root / 'data', CACHE_DIR=root / 'cache', RUNS_DIR=root / 'cache' / 'runs').items():
            mp.setenv(f'VLMFILM_WB_{k}', str(v))
        from vlmfilm_wb.config import run_config
        from vlmfilm_wb.train import train
        s = train(run_config('smoke', name=name), root / 'run', store=root / 'p.sqlite', progress=False)
        yield Path(s['checkpoint']), root / 'p.sqlite', root
