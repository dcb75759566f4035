#!/usr/bin/env python3
"""Render nbs/index.ipynb to README.md (nbdev-readme needs Quarto, which this machine kind cannot install).

Markdown cells are copied verbatim; code cells become fenced blocks (a first line `#| lang: bash` picks the fence
language, `#| hide` drops the cell); outputs are dropped. A code cell `#| results: compare RUN ... [--pair A:B]` is a
results table: it is rendered from the committed run folders (globs relative to the project root; `--at ARM@FIELD=V` as in `compare`) through
`analysis.compare_runs`, the function `vlmfilm-wb compare` prints with, so README shows exactly what the command
prints. `--check` exits 1 when README.md is out of date with the notebook or with a committed result.
"""
import glob, json, re, shlex, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def results_block(spec: str) -> str:
    """The fenced output of a `#| results:` directive, computed from the committed results by the function the CLI prints
    with: `compare RUN ... [--pair A:B]` (`analysis.compare_runs`), `evals DIR ... [--minus DIR ...]` (`analysis.eval_table`, and `analysis.eval_difference`), `audit DIR`
    (`audit.format_audit` of DIR/audit.json, what `profiles audit` printed), `cross RUN ...` (`cross.cross_markdown` of
    RUN/cross_table.csv, what the cross_dataset template printed) and `file PATH ...` (a committed markdown table, e.g. the
    frontier.md that `bench/run.py --only frontier` wrote, included as it is)."""
    args = shlex.split(spec)
    if not args or args[0] not in ('compare', 'evals', 'audit', 'cross', 'file'):
        sys.exit(f"README results directive {spec!r}: expected 'compare RUN ... [--pair A:B]', 'evals DIR ...', 'audit DIR', "
                 "'cross RUN ...' or 'file PATH ...'")
    runs, pairs, at, rest, minus = [], [], [], args[1:], []
    into = runs
    while rest:
        a = rest.pop(0)
        if a == '--pair': pairs.append(tuple(rest.pop(0).split(':', 1)))
        elif a == '--at': at.append(rest.pop(0))
        elif a == '--minus' and args[0] == 'evals': into = minus          # evals A ... --minus B ...: and A − B
        else:
            hits = sorted(glob.glob(str(root/a)))
            if not hits: sys.exit(f"README results directive: {a} matches no committed result")
            into += [str(Path(h).relative_to(root)) for h in hits]
    if args[0] == 'compare':
        from vlmfilm_wb.analysis import compare_runs
        text, _ = compare_runs([root/r for r in runs], pairs, at)
    elif args[0] == 'evals':
        from vlmfilm_wb.analysis import eval_table, eval_difference
        text = eval_table([root/r for r in runs + minus])
        if minus: text += '\n' + eval_difference([root/r for r in runs], [root/r for r in minus])
    elif args[0] == 'cross':
        import csv
        from vlmfilm_wb.cross import cross_markdown
        conv = lambda k, v: v if k in ('label', 'dataset') else (v == 'True' if k == 'fov' else float(v) if k != 'n' else int(v))
        tables = [(r, [{k: conv(k, v) for k, v in row.items()} for row in csv.DictReader(open(root/r/'cross_table.csv', newline=''))]) for r in runs]
        return '\n\n'.join(f"<!-- from {r}/cross_table.csv (cross.cross_markdown) -->\n{cross_markdown(rows)}" for r, rows in tables)
    elif args[0] == 'file':
        return '\n\n'.join(f"<!-- from {r} -->\n{(root/r).read_text(encoding='utf-8').rstrip()}" for r in runs)
    else:
        from vlmfilm_wb.audit import format_audit
        text = '\n\n'.join(format_audit(json.loads((root/r/'audit.json').read_text())) for r in runs)
    head = (f"$ vlmfilm-wb {spec}" if args[0] != 'audit' else
            f"# what `vlmfilm-wb profiles audit` printed, from {', '.join(r + '/audit.json' for r in runs)}")
    return f"```text\n{head}\n{text.rstrip()}\n```"

def render(nb_path=root/'nbs'/'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    parts = ['<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->']
    for c in nb['cells']:
        src = ''.join(c['source']).rstrip()
        if not src: continue
        lines = src.split('\n')
        directives = {}
        while lines and re.match(r'^#\|\s*', lines[0]):
            k, _, v = re.sub(r'^#\|\s*', '', lines.pop(0)).partition(':')
            directives[k.strip()] = v.strip()
        if 'hide' in directives: continue
        body = '\n'.join(lines).strip('\n')
        if 'results' in directives: parts.append(results_block(directives['results'])); continue
        if c['cell_type'] == 'markdown': parts.append(body)
        elif c['cell_type'] == 'code': parts.append(f"```{directives.get('lang', 'python')}\n{body}\n```")
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    txt, out = render(), root/'README.md'
    if '--check' in sys.argv:
        if not out.exists() or out.read_text(encoding='utf-8') != txt:
            sys.exit('README.md is out of date with nbs/index.ipynb: run tools/readme.py')
        print('README.md up to date')
    else:
        out.write_text(txt, encoding='utf-8'); print(f'wrote {out}')
