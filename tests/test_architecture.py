"""The layout holds: core/ never imports streamlit, no module of core/ imports one that imports
it back (however indirectly, lazy imports included), and no source file is over 400 lines."""

import ast

from core.paths import REPO_ROOT

CORE = REPO_ROOT / "core"


def _module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, modules: set[str]) -> set[str]:
    """The core modules a file imports anywhere in it (a name imported from a package counts
    as its module when it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: (_imports(path, set(files)) & set(files)) - {name}
            for name, path in files.items()}


def test_core_never_imports_streamlit():
    for path in CORE.rglob("*.py"):
        assert not any(m.split(".")[0] == "streamlit" for m in _imports(path, set())), path


def test_no_module_of_core_imports_one_that_imports_it_back():
    graph = _graph()
    assert "core.running.runner" in graph and "core.storage.store" in graph["core.running.runner"]
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports a module that imports it back"
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])


def test_no_source_file_is_over_400_lines():
    files = [*CORE.rglob("*.py"), *(REPO_ROOT / "views").glob("*.py"),
             *(REPO_ROOT / "ui").glob("*.py"), *(REPO_ROOT / "tests").glob("*.py"),
             REPO_ROOT / "app.py"]
    long = {str(p.relative_to(REPO_ROOT)): n for p in files
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_what_the_scripts_import_from_core_exists():
    """scripts/*.sh call Python one-liners; a module moved without them fails a fresh install."""
    import importlib
    import re
    found = 0
    for script in (REPO_ROOT / "scripts").glob("*.sh"):
        for module, name in re.findall(r"from (core[\w.]*) import (\w+)", script.read_text()):
            assert hasattr(importlib.import_module(module), name), (script.name, module, name)
            found += 1
    assert found  # install.sh converts the default model through core


def test_the_slowest_first_order_names_files_that_exist():
    """A renamed test file would quietly lose its early start (and the suite its balance)."""
    from conftest import SLOWEST_FIRST
    assert [name for name in SLOWEST_FIRST if not (REPO_ROOT / "tests" / name).exists()] == []


def test_the_slow_lane_holds_the_science_on_the_default_model():
    """`pytest -m "not slow"` leaves out the first files of SLOWEST_FIRST (their names are
    checked above): a reordering must not put the science's minutes back in the quick lane."""
    from conftest import SLOW
    assert {path.name for path in (REPO_ROOT / "tests").glob("test_science*.py")} <= SLOW
