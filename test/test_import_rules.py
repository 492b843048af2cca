"""The package's imports run one way, read from the code with ast.

The core imports neither the ROS shell nor the command line, nothing imports the command line, and there is no
import circle anywhere in ``seg_perception/`` (lazy imports inside functions included).
"""

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'seg_perception')
PACKAGE = 'seg_perception'
SHELL = (f'{PACKAGE}.ros', f'{PACKAGE}.cli')


def module_name(path: str, root: str = ROOT) -> str:
    rel = os.path.relpath(path, os.path.dirname(root))[:-3].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def imported(path: str, module: str) -> set:
    """The seg_perception modules (and module.name candidates) that the file at ``path`` imports anywhere."""
    tree = ast.parse(open(path, encoding='utf-8').read(), path)
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - (node.level - 1)]
                target = '.'.join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.startswith(PACKAGE):
                out.add(target)
                out |= {f'{target}.{a.name}' for a in node.names}
    return out


def import_graph(root: str = ROOT) -> dict:
    """module -> the package's modules it imports (only real modules: ``from x import name`` counts as x)."""
    paths = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                paths[module_name(path, root)] = path
    return {m: {t for t in imported(p, m) if t in paths and t != m} for m, p in paths.items()}


def in_part(module: str, part: str) -> bool:
    return module == part or module.startswith(part + '.')


def wrong_way(graph: dict) -> list:
    """'a -> b' for every core module importing the shell, and every module outside the CLI importing the CLI."""
    def shell(m):
        return any(in_part(m, s) for s in SHELL)

    def cli(m):
        return in_part(m, f'{PACKAGE}.cli')
    return sorted(f'{m} -> {t}' for m, ts in graph.items() for t in ts
                  if (not shell(m) and shell(t)) or (not cli(m) and cli(t)))


def circles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan), the package face left out: it re-exports."""
    graph = {m: {t for t in ts if t != PACKAGE} for m, ts in graph.items() if m != PACKAGE}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_core_imports_neither_the_ros_shell_nor_the_command_line():
    broken = wrong_way(import_graph())
    assert not broken, 'imports that run the wrong way:\n' + '\n'.join(broken)


def test_no_import_circle_in_the_package():
    found = circles(import_graph())
    assert not found, 'import circles:\n' + '\n'.join(', '.join(c) for c in found)


@pytest.fixture
def tree(tmp_path):
    def make(files):
        for name, text in files.items():
            path = tmp_path / PACKAGE / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return str(tmp_path / PACKAGE)
    return make


def test_the_rules_catch_a_core_module_importing_the_shell_even_lazily(tree):
    root = tree({'__init__.py': '', 'core.py': 'def f():\n    from .ros import node\n',
                 'ros/__init__.py': '', 'ros/node.py': '', 'cli.py': ''})
    graph = import_graph(root)
    assert wrong_way(graph) == ['seg_perception.core -> seg_perception.ros',
                                'seg_perception.core -> seg_perception.ros.node']
    assert circles(graph) == []


def test_the_rules_catch_the_shell_importing_the_command_line_and_a_circle(tree):
    root = tree({'__init__.py': '', 'a.py': 'from . import b\n', 'b.py': 'from .a import x\n',
                 'ros/__init__.py': '', 'ros/node.py': 'from ..cli import main\n', 'cli.py': ''})
    graph = import_graph(root)
    assert wrong_way(graph) == ['seg_perception.ros.node -> seg_perception.cli']
    assert circles(graph) == [['seg_perception.a', 'seg_perception.b']]
