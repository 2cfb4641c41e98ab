"""The package's import graph: no cycles, no upward imports, and nothing in sentiment_app imports training/.

Every import statement counts, the ones inside functions too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sentiment_app"

# room -> rooms it must never import (the arrows point down: ui uses everything, nothing uses ui)
FORBIDDEN = {
    "sentiment_app.model": (
        "sentiment_app.ui",
        "sentiment_app.batch",
        "sentiment_app.insights",
        "sentiment_app.distributed",
        "sentiment_app.cli",
    ),
    "sentiment_app.batch": ("sentiment_app.ui", "sentiment_app.distributed", "sentiment_app.cli"),
    "sentiment_app.insights": (
        "sentiment_app.ui",
        "sentiment_app.distributed",
        "sentiment_app.cli",
        "sentiment_app.model",
    ),
    "sentiment_app.classifier": (
        "sentiment_app.model",
        "sentiment_app.ui",
        "sentiment_app.batch",
        "sentiment_app.explain",
    ),
    "sentiment_app.explain": ("sentiment_app.model", "sentiment_app.ui", "sentiment_app.batch"),
    "sentiment_app.calibration": ("sentiment_app.",),
    "sentiment_app.config": (
        "sentiment_app.model",
        "sentiment_app.ui",
        "sentiment_app.batch",
        "sentiment_app.classifier",
    ),
    "sentiment_app.distributed": ("sentiment_app.ui",),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The modules of ``modules`` (and any ``training`` module) that the file at ``path`` imports anywhere."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] if node.level else [])
            target = ".".join(p for p in (base, node.module or "") if p) if node.level else node.module or ""
            # `from x import y` depends on x.y when y is a module, else on x itself
            candidates = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate == "training" or candidate.startswith("training."):
                found.add(candidate)
                continue
            while candidate not in modules and "." in candidate:
                candidate = candidate.rsplit(".", 1)[0]
            if candidate in modules and candidate != name:
                found.add(candidate)
    return found


def import_graph(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in package.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules, root) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _in(module: str, room: str) -> bool:
    return (
        module == room or module.startswith(room.rstrip(".") + ".") or (room.endswith(".") and module.startswith(room))
    )


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_nothing_in_the_package_imports_training():
    graph = import_graph()
    offenders = {m: sorted(d for d in deps if _in(d, "training")) for m, deps in graph.items()}
    assert {m: d for m, d in offenders.items() if d} == {}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_upward_import(room):
    graph = import_graph()
    bad = {
        module: sorted(d for d in deps for f in FORBIDDEN[room] if _in(d, f) and not _in(d, room))
        for module, deps in graph.items()
        if _in(module, room)
    }
    assert {m: d for m, d in bad.items() if d} == {}


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    """The walker itself: a planted cycle (lazy import included) and a model -> ui import are found."""
    pkg = tmp_path / "sentiment_app"
    (pkg / "model").mkdir(parents=True)
    (pkg / "ui").mkdir()
    for init in (pkg, pkg / "model", pkg / "ui"):
        (init / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "classifier.py").write_text("def f():\n    from .explain import g\n", encoding="utf-8")
    (pkg / "explain.py").write_text("from .classifier import f\n", encoding="utf-8")
    (pkg / "model" / "loading.py").write_text("from ..ui import layout\nfrom . import artifact\n", encoding="utf-8")
    (pkg / "model" / "artifact.py").write_text("import training.config\n", encoding="utf-8")
    (pkg / "ui" / "layout.py").write_text("", encoding="utf-8")
    graph = import_graph(pkg, tmp_path)
    assert cycles(graph) == [["sentiment_app.classifier", "sentiment_app.explain"]]
    assert graph["sentiment_app.model.loading"] == {"sentiment_app.ui.layout", "sentiment_app.model.artifact"}
    assert graph["sentiment_app.model.artifact"] == {"training.config"}


def test_no_file_in_the_package_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def test_the_model_room_public_surface_loads_lazily():
    import subprocess
    import sys

    code = (
        "import sys, sentiment_app.model as m; assert 'torch' not in sys.modules; "
        "assert sorted(m.__all__) == sorted(m._PUBLIC); "
        "assert m.load_classifier.__module__ == 'sentiment_app.model.loading'; print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "ok", run.stderr
