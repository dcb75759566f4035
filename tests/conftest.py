"""Shared pytest fixtures: the real datasets beside the checkout, and a scratch workbench root per test."""
import contextlib, os
from pathlib import Path

import pytest

import signal as _signal
# A test run started in the background from a script (`tools/test.sh &`) has SIGINT ignored, and every process it starts
# inherits that: the tests that stop a training with SIGINT then wait for nothing. A handler here is reset to the default
# in each child at exec, so the children take SIGINT again.
if _signal.getsignal(_signal.SIGINT) == _signal.SIG_IGN: _signal.signal(_signal.SIGINT, _signal.default_int_handler)

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


def interrupted_training(run: Path, *params: str) -> Path:
    """`vlmfilm-wb train --preset smoke` into `run` (400 steps, `last.ckpt` every 4), stopped by SIGINT once the first
    `last.ckpt` exists: a stopped run to resume. 400 steps so that a loaded machine cannot finish before the signal."""
    import signal, subprocess, sys, time
    cli = [str(Path(sys.executable).parent / 'vlmfilm-wb')]
    p = subprocess.Popen(cli + ['train', '--preset', 'smoke', '-p', 'max_steps', '400', '-p', 'val_every', '400', '-p', 'checkpoint_every', '4',
                                *params, '--out', str(run), '-q'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.time()
        while not (run / 'last.ckpt').exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.02)
        assert p.poll() is None, 'training ended before it could be interrupted'
        p.send_signal(signal.SIGINT); p.wait(300)
    finally:
        if p.poll() is None: p.kill()
    assert (run / 'last.ckpt').is_file() and not (run / 'model.ckpt').exists()
    return run
