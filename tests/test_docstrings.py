"""Public definitions of every recfair package are documented, and public functions annotate their return.

A *public definition* is a public module (file name not starting with ``_``;
``__init__.py`` counts) and every class, function and method whose name does
not start with ``_``, defined at module level or in the body of a public class
(nested classes included; functions nested in functions are not).  ``@overload``
stubs are skipped, and a module-level ``name.__doc__ = ...`` assignment counts
as ``name``'s docstring.  Modules under a ``_private`` file or folder are not
public API and are not counted.  Top-level modules (``errors.py``,
``recommendations.py``…) form the package ``(top)``.

Each package needs docstrings on at least :data:`MIN_COVERAGE` of its public
definitions, and every public function and method needs a return annotation.
``/work/plan/docstats.py`` prints the same numbers as a table.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import recfair

#: Share of public definitions that must have a docstring, per package.
MIN_COVERAGE = 0.95
ROOT = Path(recfair.__file__).parent


@dataclass
class PackageStats:
    """Counts for one package: public definitions and those missing a docstring or return annotation."""

    n_public: int = 0
    no_docstring: list[str] = field(default_factory=list)
    no_return: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        """Share of public definitions with a docstring (1.0 for an empty package)."""
        return 1.0 - len(self.no_docstring) / self.n_public if self.n_public else 1.0


def _is_overload(node: ast.AST) -> bool:
    for d in getattr(node, "decorator_list", ()):
        if (d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")) == "overload":
            return True
    return False


def scan_source(source: str, rel: str, stats: PackageStats) -> None:
    """Add one module's public definitions (``rel`` names it in messages) to ``stats``."""
    tree = ast.parse(source, filename=rel)
    stats.n_public += 1
    if ast.get_docstring(tree) is None:
        stats.no_docstring.append(f"{rel}:1 <module>")
    documented_later = {
        t.value.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Attribute) and t.attr == "__doc__" and isinstance(t.value, ast.Name)
    }

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if node.name.startswith("_") or _is_overload(node):
                continue
            stats.n_public += 1
            where = f"{rel}:{node.lineno} {prefix}{node.name}"
            if ast.get_docstring(node) is None and (prefix or node.name not in documented_later):
                stats.no_docstring.append(where)
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            elif node.returns is None:
                stats.no_return.append(where)

    visit(tree.body, "")


def collect(root: Path = ROOT) -> dict[str, PackageStats]:
    """:class:`PackageStats` per package of the source tree ``root`` (top-level modules under ``(top)``)."""
    out: dict[str, PackageStats] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue
        package = rel.parts[0] if len(rel.parts) > 1 else "(top)"
        scan_source(path.read_text(encoding="utf-8"), str(rel), out.setdefault(package, PackageStats()))
    return out


STATS = collect()  # parsed once per test run


@pytest.mark.parametrize("package", sorted(STATS))
def test_package_docstring_coverage(package):
    stats = STATS[package]
    missing = "\n".join(stats.no_docstring)
    assert stats.coverage >= MIN_COVERAGE, f"{package}: {stats.coverage:.1%} documented; missing:\n{missing}"


@pytest.mark.parametrize("package", sorted(STATS))
def test_package_return_annotations(package):
    stats = STATS[package]
    assert stats.no_return == [], f"{package}: public functions without a return annotation:\n" + "\n".join(
        stats.no_return
    )


def test_checker_counts_what_it_should():
    source = '''"""Module."""
def documented() -> int:
    """Yes."""
def bare(x):
    return x
def later() -> None:
    pass
later.__doc__ = "set after the definition"
def _private(x):
    pass
class Public:
    """Class."""
    def method(self):
        pass
    def _hidden(self):
        pass
    class Config:
        pass
class _Hidden:
    def method(self):
        pass
'''
    stats = PackageStats()
    scan_source(source, "m.py", stats)
    # module, documented, bare, later, Public, Public.method, Public.Config
    assert stats.n_public == 7
    assert [w.split()[-1] for w in stats.no_docstring] == ["bare", "Public.method", "Public.Config"]
    assert [w.split()[-1] for w in stats.no_return] == ["bare", "Public.method"]
    assert stats.coverage == pytest.approx(4 / 7)


def test_private_modules_are_not_counted(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text('"""Package."""\n')
    (tmp_path / "pkg" / "_impl.py").write_text("def f(x):\n    return x\n")
    (tmp_path / "pkg" / "api.py").write_text("def g(x):\n    return x\n")
    stats = collect(tmp_path)
    assert list(stats) == ["pkg"]
    assert stats["pkg"].n_public == 3  # __init__, api (module), g
    assert stats["pkg"].no_docstring == ["pkg/api.py:1 <module>", "pkg/api.py:1 g"]
