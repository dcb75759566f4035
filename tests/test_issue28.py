"""Issue 28 item 1 (two parts): papermill's `Input Notebook` line once per `vlmfilm-wb run`, and a resumed training's
progress bar counting to max_steps from the step it resumed at (was `Training: | 70/? ...`)."""
import re, subprocess, sys
from pathlib import Path

from conftest import interrupted_training

CLI = [str(Path(sys.executable).parent / 'vlmfilm-wb')]


def test_run_logs_input_notebook_once(workbench):
    "It was logged 4 times: papermill's inspect_notebook logs it on every call (the parameter checks), not only at execution."
    r = subprocess.run(CLI + ['run', 'train', '-p', 'preset', 'smoke', '-p', 'eval_splits', '["val"]', '-p', 'eval_limit', '1'],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count('INFO papermill: Input Notebook:') == 1, r.stderr[-3000:]
    assert r.stderr.count('INFO papermill: Output Notebook:') == 1


def test_resumed_progress_bar_counts_to_max_steps(workbench, tmp_path):
    run = interrupted_training(tmp_path / 'run')
    r = subprocess.run(CLI + ['train', '--resume', str(run)], capture_output=True, text=True, timeout=900)   # the bar on
    assert r.returncode == 0, r.stderr[-3000:]
    start = int(re.search(r'resuming from .* \(step (\d+)\)', r.stderr).group(1))
    assert 4 <= start < 400
    counts = [(int(n), t) for n, t in re.findall(r'Training:[^\r\n]*?\b(\d+)/(\d+|\?)', r.stdout)]
    shown = [n for n, t in counts if t == '400']
    assert shown and shown[-1] == 400 and [n for n in shown if n] [0] == start, counts[:5]   # from the resume step to max_steps
    assert not [n for n, t in counts if t == '?' and n > 0], counts[:5]                       # never a count without a total


def test_run_streams_training_progress_while_it_runs(workbench):
    """`vlmfilm-wb run train` showed only papermill's cell count for minutes; the training inside the kernel now reports
    its step, loss, rate and time left on the terminal (stderr; a file here, so one line every few steps) while it runs."""
    p = subprocess.Popen(CLI + ['run', 'train', '-p', 'preset', 'smoke', '-p', 'max_steps', '12', '-p', 'eval_splits', '["val"]',
                                '-p', 'eval_limit', '1'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, alive = [], None
    try:
        for line in p.stderr:                                    # read as the run writes it
            m = re.search(r'\btraining (\d+)/(\d+)\b.*\bloss\b', line)
            if m:
                seen.append((int(m.group(1)), int(m.group(2))))
                if alive is None: alive = p.poll() is None             # the first line came while the run was still going
        p.wait(900)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 0, p.stdout.read()[-2000:]
    assert alive and seen and seen[-1] == (12, 12) and all(t == 12 for _, t in seen), seen
    assert [n for n, _ in seen] == sorted({n for n, _ in seen}), seen            # every line once, in order
