"""The package's import graph, built from the sources with `ast` (function-local imports included): no cycle, and no
module too large to see at once (issue 24)."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / 'vlmfilm_wb'
MODULES = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    "module -> the package modules it imports, at any depth of its code (`from .x import`, `from vlmfilm_wb.x import`, `import vlmfilm_wb.x`)."
    mods = {p.stem for p in pkg.glob('*.py') if not p.stem.startswith('_')}
    g = {}
    for m in mods:
        edges = set()
        for node in ast.walk(ast.parse((pkg / f'{m}.py').read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level == 1: target = base.split('.')[0] if base else None
                elif base.startswith('vlmfilm_wb.'): target = base.split('.')[1]
                elif base == 'vlmfilm_wb': target = None
                else: continue
                names = [target] if target else [a.name for a in node.names]
                edges |= {n for n in names if n in mods}
            elif isinstance(node, ast.Import):
                edges |= {a.name.split('.')[1] for a in node.names if a.name.startswith('vlmfilm_wb.') and a.name.split('.')[1] in mods}
        g[m] = edges - {m}
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    "One cycle of `g` as a list of modules (first = last), or None."
    state, stack = {}, []
    def visit(u):
        state[u] = 1; stack.append(u)
        for v in sorted(g.get(u, ())):
            if state.get(v) == 1: return stack[stack.index(v):] + [v]
            if v not in state and (c := visit(v)): return c
        state[u] = 2; stack.pop(); return None
    for u in sorted(g):
        if u not in state and (c := visit(u)): return c
    return None


def test_find_cycle_known_answers():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'a2'}, 'a2': {'b'}, 'b': {'a2'}}) == ['a2', 'b', 'a2']


def test_graph_sees_local_imports(tmp_path):
    (tmp_path / 'x.py').write_text('def f():\n    from .y import g\n    return g\n')
    (tmp_path / 'y.py').write_text('import vlmfilm_wb.x\nfrom vlmfilm_wb import x\n')
    g = import_graph(tmp_path)
    assert g == {'x': {'y'}, 'y': {'x'}} and find_cycle(g) == ['x', 'y', 'x']


def test_no_import_cycle():
    g = import_graph()
    assert {'config', 'checkpoint', 'train'} <= set(g)
    assert find_cycle(g) is None, f"import cycle: {' -> '.join(find_cycle(g))}"


def test_layers_go_down():
    "The layer order of DESIGN.md §4c: config below checkpoint below train; the downstream modules do not import train."
    g = import_graph()
    assert 'train' not in g['checkpoint'] | g['config'] and 'checkpoint' not in g['config']
    for m in ('evaluate', 'predict', 'analysis', 'viz', 'cross'):
        assert 'train' not in g[m], f'{m} imports train'
    assert not g['store'] & {'checkpoint', 'condition', 'model', 'train'}
    assert not g['condition'] & {'store', 'model', 'checkpoint', 'train'}


def test_module_sizes():
    sizes = {m: len((PKG / f'{m}.py').read_text().splitlines()) for m in MODULES}
    assert sizes['train'] <= 450, f"train.py has {sizes['train']} lines (at most 450)"
    big = {m: n for m, n in sizes.items() if n > 600}
    assert not big, f'modules over 600 lines: {big}'
