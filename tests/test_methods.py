"""The method registry is the one place a method is declared: nothing else names one."""

import ast
from pathlib import Path

from core.methods import METHODS, REGISTRY, get_method
from core.paths import REPO_ROOT
from core.queue import progress


def test_phases_come_from_the_registry():
    assert progress.method_phases("pretrained") == ("evaluate",)
    assert progress.method_phases("ft") == ("train", "evaluate")
    assert progress.method_phases("ft_local_global") == ("augment", "train", "evaluate")
    assert progress.method_phases("an-old-name") == ("evaluate",)
    assert [get_method(m).scopes for m in METHODS if get_method(m).trains] == \
        [(), ("local",), ("global",), ("local", "global")]


def _method_tests(tree: ast.AST) -> list[tuple[int, str]]:
    """Where code asks what a method is by its name: `x == "icl"`, `x in ("ft", ...)`,
    `x.startswith("ft")` (a name as data, such as the method a tuning trains, is fine)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            values = [c.value for p in parts for c in ast.walk(p) if isinstance(c, ast.Constant)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("startswith", "endswith")):
            values = [a.value for a in node.args if isinstance(a, ast.Constant)]
            values = [v for v in values if isinstance(v, str) and any(m.startswith(v) for m in REGISTRY)]
            values = [next(m for m in REGISTRY if m.startswith(v)) for v in values]
        else:
            continue
        found += [(node.lineno, v) for v in values if v in REGISTRY]
    return found


def test_no_module_outside_the_registry_asks_what_a_method_is_by_its_name():
    """A method's name compared anywhere else is a second declaration waiting to drift (the
    job queue once guessed phases from substrings of the name)."""
    registry = REPO_ROOT / "core" / "methods" / "__init__.py"
    files = [*(REPO_ROOT / "core").rglob("*.py"), *(REPO_ROOT / "views").glob("*.py"),
             *(REPO_ROOT / "ui").glob("*.py"), REPO_ROOT / "app.py"]
    named = [f"{path.relative_to(REPO_ROOT)}:{line} {value!r}" for path in files if path != registry
             for line, value in _method_tests(ast.parse(Path(path).read_text()))]
    assert named == []
    # The check does find the old way.
    old_way = 'if method.startswith("ft") or m == "icl": pass'
    assert sorted(_method_tests(ast.parse(old_way))) == [(1, "ft"), (1, "icl")]
