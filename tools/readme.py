#!/usr/bin/env python3
"""Render nbs/index.ipynb to README.md (nbdev-readme needs Quarto, which this machine kind cannot install).

Markdown cells are copied verbatim; code cells become fenced blocks (a first line `#| lang: bash` picks the fence
language, `#| hide` drops the cell); outputs are dropped. `--check` exits 1 when README.md is out of date.
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

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
