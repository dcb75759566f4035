"""Sweeps through submitit: the local executor (real processes, no mocks) on a 2-point smoke grid with one point failing on
purpose, a pre-empted job (a real USR2 signal) resuming in its folder, and the Slurm request checked without a cluster."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import pytest

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def _env():   # the workbench fixture's settings, one thread per job (two jobs share the CPU)
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=1500, env=_env(), **kw)


def _folders(runs: Path) -> list[Path]:
    return sorted(d for d in runs.iterdir() if d.is_dir() and d.name != 'sweeps')


def test_local_sweep_one_ok_one_failed(workbench, tmp_path):
    grid = tmp_path / 'grid.yaml'   # the second point names a dataset that does not exist: the template fails in its first cells
    grid.write_text('grid:\n  dataset: [synthetic_xca, no_such_dataset]\n'
                    'params:\n  eval_splits: [val]\n  eval_limit: 2\n  n_examples: 1\n  name: sw\n')
    r = _run(['sweep', 'train', '--grid', str(grid), '--executor', 'local', '--gpus-per-job', '0'])
    assert r.returncode == 1 and 'sweep record:' in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]   # one job failed: the sweep says so
    runs = workbench / 'cache' / 'runs'
    by_dataset = {json.loads((d / 'params.json').read_text())['params']['dataset']: d for d in _folders(runs)}
    assert set(by_dataset) == {'synthetic_xca', 'no_such_dataset'}
    ok, bad = by_dataset['synthetic_xca'], by_dataset['no_such_dataset']
    m_ok, m_bad = (json.loads((d / 'metrics.json').read_text()) for d in (ok, bad))
    assert m_ok['status'] == 'ok' and (ok / 'model.ckpt').is_file() and (ok / 'train.ipynb').is_file()
    assert m_ok['val']['n_images'] == 2
    assert m_bad['status'] == 'failed' and "unknown dataset 'no_such_dataset'" in m_bad['error']['evalue']
    assert (bad / 'train.ipynb').is_file() and not (bad / 'model.ckpt').exists()          # the partial notebook is kept
    rec = json.loads(next((runs / 'sweeps').glob('*_train.json')).read_text())
    assert rec['executor'] == 'local' and len(rec['jobs']) == 2
    for d in (ok, bad):              # submitit's own files, inside the run folder, named by the job id the record holds
        jid = next(j['job_id'] for j in rec['jobs'] if j['run_dir'] == str(d))
        names = {p.name for p in (d / 'submitit').iterdir()}
        assert {f'{jid}_0_log.out', f'{jid}_0_log.err', f'{jid}_submitted.pkl', f'{jid}_0_result.pkl', 'job.json'} <= names, names
    assert 'run failed' in next((bad / 'submitit').glob('*_0_log.err')).read_text()     # the job raised: submitit saw it fail
    st = _run(['sweep', '--status'])
    assert st.returncode == 0, st.stderr
    lines = st.stdout.splitlines()
    assert '2 jobs: 1 finished, 1 failed' in st.stdout or '2 jobs: 1 failed, 1 finished' in st.stdout, st.stdout
    assert any(l.startswith('finished') and str(ok) in l for l in lines) and any(l.startswith('failed') and str(bad) in l for l in lines)
    from vlmfilm_wb.runs import collect_runs
    df = collect_runs(runs, template='train')
    assert sorted(df.status) == ['failed', 'ok'] and set(df['p.dataset']) == {'synthetic_xca', 'no_such_dataset'}
    import pandas as pd
    table = pd.read_csv(runs / 'runs_train.csv')          # the sweep's runs table (a failed run's traceback spans lines)
    assert sorted(table.status) == ['failed', 'ok'] and 'm.val.dice.mean' in table.columns


def test_preempted_job_records_it_and_resumes(workbench, tmp_path):
    "A real USR2 to the running job (what Slurm sends before pre-emption): status preempted, requeued, resumed to ok in the same folder."
    grid = tmp_path / 'grid.yaml'
    grid.write_text('grid:\n  seed: [0]\nparams:\n  eval_splits: [val]\n  eval_limit: 1\n  n_examples: 1\n  name: pre\n'
                    '  max_steps: 400\n  overrides: {checkpoint_every: 20, val_every: 400}\n')
    p = subprocess.Popen(CLI + ['sweep', 'train', '--grid', str(grid), '--executor', 'local', '--gpus-per-job', '0'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    runs = workbench / 'cache' / 'runs'
    t0, run = time.time(), None
    try:
        while time.time() - t0 < 900:     # wait until training has written a last.ckpt, then signal the job's process
            run = next(iter(_folders(runs)), None) if runs.is_dir() else None
            if run and (run / 'last.ckpt').is_file() and (run / 'submitit' / 'job.json').is_file(): break
            assert p.poll() is None, p.communicate()
            time.sleep(1)
        else: pytest.fail('training never wrote last.ckpt')
        job = json.loads((run / 'submitit' / 'job.json').read_text())
        assert job['attempt'] == 1
        os.kill(job['pid'], signal.SIGUSR2)
        out, err = p.communicate(timeout=1200)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 0, out[-3000:] + err[-3000:]
    before = json.loads((run / 'metrics.before-resume-1.json').read_text())
    assert before['status'] == 'preempted' and before['preempted']['attempt'] == 1
    assert (run / 'train.before-resume-1.ipynb').is_file()                      # the stopped attempt's notebook, kept
    assert json.loads((run / 'metrics.json').read_text())['status'] == 'ok' and (run / 'model.ckpt').is_file()
    assert json.loads((run / 'submitit' / 'job.json').read_text())['attempt'] == 2
    assert len(_folders(runs)) == 1                                             # the same folder, not a new run
    assert 'preempted' in next((run / 'submitit').glob('*_0_log.err')).read_text()


def test_slurm_request_known_answers(tmp_path):
    "The Slurm request (no cluster faked): the AutoExecutor keywords, and the sbatch script submitit makes of them."
    from submitit import SlurmExecutor
    from submitit.slurm.slurm import _make_sbatch_string
    from vlmfilm_wb.runs import slurm_parameters, _check_executor
    p = slurm_parameters('gpu', 1, '04:00:00', '32G', 8, ['qos=high', 'account=lab'], name='vlmfilm-ablate_stages')
    assert p == dict(name='vlmfilm-ablate_stages', nodes=1, tasks_per_node=1, timeout_min=240, slurm_partition='gpu',
                     gpus_per_node=1, cpus_per_task=8, slurm_mem='32G', slurm_qos='high', slurm_account='lab')
    _check_executor('local', p)                                  # submitit takes every key
    eq = SlurmExecutor._equivalence_dict()                       # AutoExecutor's generic names -> SlurmExecutor's
    sl = {**{eq[k]: v for k, v in p.items() if k in eq}, **{k[6:]: v for k, v in p.items() if k.startswith('slurm_')}}
    script = _make_sbatch_string(command='python -u -m submitit.core._submit RUN/submitit', folder=str(tmp_path / 'RUN' / 'submitit'), **sl)
    for line in ('#SBATCH --partition=gpu', '#SBATCH --time=240', '#SBATCH --mem=32G', '#SBATCH --gpus-per-node=1',
                 '#SBATCH --cpus-per-task=8', '#SBATCH --qos=high', '#SBATCH --account=lab', '#SBATCH --ntasks-per-node=1',
                 '#SBATCH --job-name=vlmfilm-ablate_stages', '#SBATCH --signal=USR2@90',
                 f"#SBATCH --output={tmp_path / 'RUN' / 'submitit'}/%j_0_log.out"):
        assert line in script.splitlines(), (line, script)


def test_sweep_options_refused(workbench, tmp_path):
    grid = tmp_path / 'g.yaml'; grid.write_text('grid:\n  seed: [0]\n')
    r = _run(['sweep', 'train', '--grid', str(grid), '--partition', 'gpu'])
    assert r.returncode == 2 and '--partition: Slurm options; add --executor slurm' in r.stderr
    r = _run(['sweep', 'train', '--grid', str(grid), '--executor', 'slurm', '--time', '1:00:00', '--slurm', 'qoss=high'])
    assert r.returncode == 2 and "not a submitit Slurm parameter (did you mean 'qos'?)" in r.stderr
    r = _run(['sweep', 'train', '--grid', str(grid), '--executor', 'local', '--jobs', '2'])
    assert r.returncode == 2 and '--jobs is for the subprocess executor' in r.stderr
    if not shutil.which('srun'):
        r = _run(['sweep', 'train', '--grid', str(grid), '--executor', 'slurm', '--time', '1:00:00'])
        assert r.returncode == 2 and 'no Slurm here' in r.stderr
    r = _run(['sweep', '--status'])
    assert r.returncode == 2 and 'no sweep record' in r.stderr
    runs = workbench / 'cache' / 'runs'
    assert not runs.exists() or not _folders(runs)               # nothing claimed by a refused sweep
