"""Imports flow one way through recfair's layers, and no module imports another's private name.

Layers, earliest first (docs/conventions.md, ARCHITECTURE.md): values (errors,
recommendations) → data → metrics → fairness → models → mitigation →
study / simulation / runs → report / serve → cli.  A module may import its own
layer and earlier ones only — lazy imports inside functions included.
``recfair/testing.py`` is test support: it may import anything except cli.
A name starting with ``_`` may not be imported from another module, nor a
``_private`` module from outside its own folder.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import recfair

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "recommendations"}),
    frozenset({"data"}),
    frozenset({"metrics"}),
    frozenset({"fairness"}),
    frozenset({"models"}),
    frozenset({"mitigation"}),
    frozenset({"study", "simulation", "runs"}),
    frozenset({"report", "serve"}),
    frozenset({"cli"}),
)
#: Modules outside the chain: the package root and ``python -m recfair`` see everything;
#: ``testing`` sits just below cli (with report / serve).
FREE = {"__init__": len(LAYERS), "__main__": len(LAYERS), "testing": len(LAYERS) - 2}


@dataclass(frozen=True)
class Violation:
    """One import that breaks the rules, with where it is."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def layer_of(top: str) -> int | None:
    """Index of the layer a top-level module or package of the library belongs to."""
    if top in FREE:
        return FREE[top]
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def _imports(tree: ast.AST, package: list[str]):
    """``(line, module path, imported names)`` of every import anywhere in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split("."), []
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = base + (node.module.split(".") if node.module else [])
            yield node.lineno, mod, [a.name for a in node.names]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def check_package(root: Path) -> list[Violation]:
    """Every layer or privacy violation among the modules under package folder ``root``."""
    pkg = root.name
    found: list[Violation] = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        module = parts[:-1] if is_init else parts
        folder = module if is_init else module[:-1]
        top = module[1] if len(module) > 1 else "__init__"
        where = f"{path.relative_to(root.parent)}"
        src_layer = layer_of(top)
        if src_layer is None:
            if any(v.message.startswith(f"module '{top}' ") for v in found):
                continue
            found.append(Violation(where, f"module '{top}' is in no layer; add it to LAYERS"))
            continue
        for line, mod, names in _imports(ast.parse(path.read_text(), str(path)), folder):
            if not mod or mod[0] != pkg:
                continue
            at = f"{where}:{line}"
            dst = mod[1] if len(mod) > 1 else "__init__"
            if dst == "__init__" and all(n.startswith("__") for n in names) and names:
                continue  # package metadata (``from recfair import __version__``)
            dst_layer = layer_of(dst)
            if dst_layer is None:
                found.append(Violation(at, f"imports {'.'.join(mod)}, which is in no layer"))
            elif dst_layer > src_layer:
                found.append(Violation(at, f"imports {'.'.join(mod)}: '{dst}' is a later layer than '{top}'"))
            for i in range(2, len(mod)):
                if _private(mod[i]) and mod[:i] != folder:
                    found.append(Violation(at, f"imports private module {'.'.join(mod[: i + 1])} from outside its folder"))
            if mod != module and mod != folder:
                private = [n for n in names if _private(n)]
                if private:
                    found.append(Violation(at, f"imports private {', '.join(private)} from {'.'.join(mod)}"))
    return found


def test_recfair_imports_follow_the_layers():
    violations = check_package(Path(recfair.__file__).parent)
    assert not violations, "\n".join(map(str, violations))


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "recfair"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text)
    return root


def test_checker_accepts_forward_imports(tmp_path):
    root = _fake_package(tmp_path, {
        "data/dataset.py": "from recfair.errors import RecfairError\n",
        "models/base.py": "from recfair.data import dataset\nfrom . import _shared\n",
        "models/_shared.py": "",
        "cli/main.py": "def f():\n    import recfair.models.base\n",
        "testing.py": "import recfair.mitigation\n",
        "runs/x.py": "from recfair import __version__\n",
    })
    assert check_package(root) == []


def test_checker_catches_a_planted_back_import(tmp_path):
    root = _fake_package(tmp_path, {
        "data/dataset.py": "def lazy():\n    from recfair.models.base import Recommender\n",
        "models/base.py": "",
    })
    assert [str(v) for v in check_package(root)] == [
        "recfair/data/dataset.py:2: imports recfair.models.base: 'models' is a later layer than 'data'"]


def test_checker_catches_relative_back_imports_and_private_names(tmp_path):
    root = _fake_package(tmp_path, {
        "metrics/ranking.py": "from ..fairness import audit\n",
        "fairness/audit.py": "_fmt = str\n",
        "fairness/data_audit.py": "from recfair.fairness.audit import _fmt\n",
        "models/classic/_torch.py": "",
        "models/lm/two_tower.py": "from recfair.models.classic import _torch\nimport recfair.models.classic._torch\n",
        "testing.py": "from recfair.cli import app\n",
        "errors.py": "from recfair import Dataset\n",
    })
    messages = sorted(v.message for v in check_package(root))
    assert messages == [
        "imports private _fmt from recfair.fairness.audit",
        "imports private _torch from recfair.models.classic",
        "imports private module recfair.models.classic._torch from outside its folder",
        "imports recfair.cli: 'cli' is a later layer than 'testing'",
        "imports recfair.fairness: 'fairness' is a later layer than 'metrics'",
        "imports recfair: '__init__' is a later layer than 'errors'",
    ]


def test_checker_flags_a_module_in_no_layer(tmp_path):
    root = _fake_package(tmp_path, {"plugins/x.py": ""})
    assert [v.message for v in check_package(root)] == ["module 'plugins' is in no layer; add it to LAYERS"]
