#!/usr/bin/env python3
"""A short table of one run folder's results, read from its metrics.json (what the train template's finish_run
writes): per evaluated split Dice, clDice and Betti-0/Betti-1 errors as mean [95% CI], seconds per image and network
evaluations (NFE) per window; then the training summary and where the files are.

    python tools/run_summary.py RUN_FOLDER

Exit code 1 when the run did not finish ok (its error is printed), 2 when the folder has no readable metrics.json.
"""
import json, sys
from pathlib import Path

METRICS = [('dice', 'Dice', '{:.3f}'), ('cldice', 'clDice', '{:.3f}'),
           ('betti0_error', 'Betti-0 err', '{:.1f}'), ('betti1_error', 'Betti-1 err', '{:.1f}')]


def cell(s, fmt: str) -> str:
    "mean [lo, hi] of a summary dict (a bare number as it is)."
    if isinstance(s, dict) and 'mean' in s:
        return f"{fmt.format(s['mean'])} [{fmt.format(s['lo'])}, {fmt.format(s['hi'])}]" if 'lo' in s else fmt.format(s['mean'])
    return '-' if s is None else fmt.format(s)


def table(m: dict) -> str:
    splits = [s for s in ('val', 'test') if isinstance(m.get(s), dict)] + \
             [s for s, v in m.items() if s not in ('val', 'test', 'train') and isinstance(v, dict) and 'dice' in v]
    head = ['split', 'images'] + [h for _, h, _ in METRICS] + ['s/image', 'NFE/window']
    rows = [[s, str(m[s].get('n_images', (m[s].get('dice') or {}).get('n', '-')))]
            + [cell(m[s].get(k), f) for k, _, f in METRICS]
            + [cell(m[s].get('seconds_per_image'), '{:.2f}'), cell(m[s].get('nfe_per_window'), '{:g}')] for s in splits]
    w = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: '  '.join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))
    return '\n'.join([line(head), line(['-' * n for n in w])] + [line(r) for r in rows])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1: print(__doc__, file=sys.stderr); return 2
    run = Path(argv[0])
    try: m = json.loads((run / 'metrics.json').read_text())
    except (OSError, ValueError) as e: print(f'run_summary: no readable metrics.json in {run}: {e}', file=sys.stderr); return 2
    status = m.get('status', '?')
    print(f'run folder: {run}  (status: {status})')
    if status != 'ok':
        err = m.get('error') or {}
        print(f"error:      {err.get('ename') or err.get('type', '?')}: {str(err.get('evalue') or err.get('message', ''))[:500]}")
    else:
        print()
        print(table(m))
        print('  (mean over images [95% bootstrap CI]; Betti errors: |components| and |loops| differences per image)')
        t = m.get('train') or {}
        if t:
            print(f"\ntraining:   {t.get('steps', '?')} steps in {t.get('train_seconds', 0):.0f} s "
                  f"({t.get('patches_per_second', 0):.2f} patches/s), {t.get('parameters', 0) / 1e6:.2f}M parameters, "
                  f"FiLM {t.get('film_mode', '?')}" + (f" (decoder stages {t['film_stages']})" if t.get('film_stages') else ''))
    print(f'metrics:    {run / "metrics.json"}')
    figs = sorted((run / 'figures').glob('*.png')) if (run / 'figures').is_dir() else []
    if figs: print('figures:    ' + '\n            '.join(map(str, figs)))
    for name in ('model.ckpt', 'train.ipynb'):
        if (run / name).is_file(): print(f"{'checkpoint' if name.endswith('ckpt') else 'notebook'}: {'' if name.endswith('ckpt') else '  '}{run / name}")
    return 0 if status == 'ok' else 1


if __name__ == '__main__':
    sys.exit(main())
