"""What a server serves: one model with its training data, opened from a study cell or a run folder.

:func:`open_served` reads a folder written by recfair — a study folder
(``study.duckdb`` + ``cells/<id>/``, :mod:`recfair.study.store`) with ``cell``, or
a run folder (``run.json``, :class:`recfair.runs.Run`, checksums verified) — and
returns a read-only :class:`ServedModel`.  The model is loaded through the model
registry (safetensors + JSON only); a cell id must be a plain id *and* a done cell
of that store, so no request can name a path outside it.  The training set is
rebuilt from the recorded data set and split and checked against the recorded
data fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from recfair.errors import IntegrityError, RecfairError

__all__ = [
    "CHOOSE_CELL", "DATA_CHANGED", "NOT_SERVABLE", "NO_MODEL", "NO_STUDY_CELLS", "UNKNOWN_CELL",
    "ServedModel", "open_served", "served_cells",
]

NOT_SERVABLE = "{path} is neither a study folder (study.duckdb) nor a run folder (run.json); give one of those."
UNKNOWN_CELL = "Cell {cell!r} is not a done cell of the study {path}. Done cells: {ids}."
CHOOSE_CELL = "The study {path} has {n} done cells with a model; choose one with --cell: {ids}."
NO_STUDY_CELLS = "The study {path} has no done cell with a model to serve; run the study first."
NO_MODEL = ("Cell {cell} holds no model (a re-ranked cell, mitigation '{mitigation}'); serve its parent cell "
            "{parent} and pass the re-ranker per request.")
DATA_CHANGED = ("data set {dataset!r} changed since cell {cell} was computed (fingerprint {now}, recorded {then}); "
                "restore the data or run the study again")
NO_CELL_FOR_RUN = "{path} is a run folder; --cell applies to study folders only."
MODEL_DIR = "model"
AUDIT_DIR = "audit"
AUDIT_TABLES = ("overall", "group_metrics", "gaps", "item_fairness")
#: Most cell ids listed in an error message.
LISTED = 20


def _json_value(v: Any) -> Any:
    """A pandas / numpy cell as a JSON value (NaN → None, arrays → lists)."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_json_value(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v if isinstance(v, (str, int, bool)) else str(v)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts."""
    return [{str(c): _json_value(v) for c, v in row.items()} for row in frame.to_dict("records")]


@dataclass
class ServedModel:
    """A loaded model and what answering requests needs (raw-id maps, titles, popularity groups).

    Built by :func:`open_served`; never modified after that (requests share it read-only).
    """

    model: Any
    train: Any
    source: str  # "cell" or "run"
    name: str  # the cell id or the run folder's name
    version: str
    root: Path
    audit_loader: Callable[[], dict[str, Any] | None] = field(repr=False, default=lambda: None)

    def __post_init__(self) -> None:
        self.user_index = {str(u): i for i, u in enumerate(self.train.user_ids)}
        self.item_index = {str(j): i for i, j in enumerate(self.train.item_ids)}
        self.item_ids = np.array([str(j) for j in self.train.item_ids], dtype=object)
        self.user_ids = np.array([str(u) for u in self.train.user_ids], dtype=object)
        self.titles = _titles(self.train.items, len(self.item_ids))
        self.popularity = np.asarray(self.train.item_counts, dtype=np.int64)

    @cached_property
    def matcher(self) -> Any:
        """Title matcher over the catalogue (built on first use)."""
        from recfair.data.titles import TitleMatcher

        return TitleMatcher.from_dataset(self.train)

    @cached_property
    def item_groups(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Popularity groupings of the items: ``{"popularity": (codes, names), "tiers": (…)}``."""
        from recfair.mitigation.rerank import item_group_codes

        return {name: item_group_codes(self.train, name) for name in ("popularity", "tiers")}

    def audit(self) -> dict[str, Any] | None:
        """The stored audit of the served cell or run (JSON-safe tables), or None."""
        return self.audit_loader()

    def describe(self) -> dict[str, Any]:
        """What is served: model name, version, source, counts."""
        return {"model": self.model.name, "version": self.version, "source": self.source, "name": self.name,
                "n_users": int(len(self.user_ids)), "n_items": int(len(self.item_ids)),
                "new_users": bool(getattr(self.model, "supports_cold_users", False)
                                  and hasattr(self.model, "recommend_new_users"))}


def _titles(items: pd.DataFrame, n: int) -> list[str | None]:
    """``"Title (year)"`` per item (None without a title column)."""
    if "title" not in items.columns:
        return [None] * n
    years = items["year"] if "year" in items.columns else pd.Series([np.nan] * n)
    out = []
    for t, y in zip(items["title"].tolist(), years.tolist()):
        ok = isinstance(y, (int, float, np.number)) and np.isfinite(y)
        out.append(f"{t} ({int(y)})" if ok else str(t))
    return out


# ---------------------------------------------------------------- study cells
def served_cells(root: str | Path) -> list[str]:
    """Done cells of the study at ``root`` that hold a model, in store order."""
    from recfair.study.store import Store

    root = Path(root)
    with Store(root, read_only=True) as store:
        cells = store.cells()
    done = cells[cells["status"] == "done"]
    return [c for c in done["cell_id"] if (root / "cells" / c / MODEL_DIR / "config.json").is_file()]


def _check_cell(root: Path, cell: str, row: pd.DataFrame) -> None:
    """``cell`` must be a safe id and a done cell of the store (nothing else can be reached)."""
    from recfair.study.rows import check_cell_id

    check_cell_id(cell)
    if row.empty:
        with_model = served_cells(root)
        ids = ", ".join(with_model[:LISTED]) + (" …" if len(with_model) > LISTED else "")
        raise RecfairError(UNKNOWN_CELL.format(cell=cell, path=root, ids=ids or "none"))


def _cell_data(row: dict[str, Any]) -> Any:
    """The cell's training set, rebuilt from its recorded data set and split, fingerprint checked."""
    from recfair.data import fingerprint, make_split
    from recfair.study.config_check import load_study_data, resolve_data_name

    config = json.loads(row["config"] or "{}")
    data = load_study_data(resolve_data_name(row["dataset"], Path.cwd()), dict(config.get("data_options", {})))
    now = fingerprint(data)
    if now != row["fingerprint"]:
        raise IntegrityError(DATA_CHANGED.format(dataset=row["dataset"], cell=row["cell_id"], now=now,
                                                 then=row["fingerprint"]))
    return make_split(data, seed=int(row["seed"]), **dict(config.get("split", {}))).train


def _cell_audit(root: Path, cell: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        from recfair.study.store import Store

        with Store(root, read_only=True) as store:
            return {"source": "cell", "name": cell,
                    "tables": {t: records(store.table(t, [cell]).drop(columns="cell_id")) for t in AUDIT_TABLES}}
    return load


def _open_cell(root: Path, cell: str | None, runtime: Any) -> ServedModel:
    from recfair.models.base import Recommender
    from recfair.study.store import Store

    if cell is None:
        ids = served_cells(root)
        if len(ids) != 1:
            listed = ", ".join(ids[:LISTED]) + (" …" if len(ids) > LISTED else "")
            raise RecfairError(CHOOSE_CELL.format(path=root, n=len(ids), ids=listed) if ids
                               else NO_STUDY_CELLS.format(path=root))
        cell = ids[0]
    with Store(root, read_only=True) as store:
        frame = store.cells()
    frame = frame[(frame["cell_id"] == cell) & (frame["status"] == "done")] if isinstance(cell, str) else frame[:0]
    _check_cell(root, cell, frame)
    row = frame.iloc[0].to_dict()
    folder = root / "cells" / cell
    if not (folder / MODEL_DIR / "config.json").is_file():
        raise RecfairError(NO_MODEL.format(cell=cell, mitigation=row["mitigation"], parent=row["parent_id"]))
    model = Recommender.load(folder / MODEL_DIR, runtime=runtime)
    return ServedModel(model, _cell_data(row), "cell", cell, f"{model.name}@{cell}", root,
                       audit_loader=_cell_audit(root, cell))


# ---------------------------------------------------------------------- runs
def _run_audit(path: Path) -> Callable[[], dict[str, Any] | None]:
    def load() -> dict[str, Any] | None:
        from recfair.fairness.audit import Audit

        if not (path / AUDIT_DIR).is_dir():
            return None
        audit = Audit.load(path / AUDIT_DIR)
        return {"source": "run", "name": path.name, "tables": {n: records(t) for n, t in audit.tables.items()}}
    return load


def _open_run(path: Path, runtime: Any) -> ServedModel:
    from recfair.runs import Run

    from recfair.models.base import Recommender

    run = Run(path)  # verifies every checksum
    model = Recommender.load(run.path / MODEL_DIR, runtime=runtime)
    weights = run.manifest.get("files", {}).get(f"{MODEL_DIR}/weights.safetensors", {}).get("sha256", "")
    return ServedModel(model, run.split.train, "run", path.name, f"{model.name}@{path.name}#{weights[:12]}", path,
                       audit_loader=_run_audit(path))


def open_served(path: str | Path, cell: str | None = None, *, runtime: Any = None) -> ServedModel:
    """Open a study cell (``cell`` of the study folder ``path``) or a run folder for serving.

    ``runtime`` (:class:`~recfair.models.config.RuntimeOptions`) sets how the model
    runs (threads, device).  Errors name the folder and what is allowed.
    """
    root = Path(path).expanduser().resolve()
    if (root / "study.duckdb").is_file():
        return _open_cell(root, cell, runtime)
    if (root / "run.json").is_file():
        if cell is not None:
            raise RecfairError(NO_CELL_FOR_RUN.format(path=root))
        return _open_run(root, runtime)
    raise RecfairError(NOT_SERVABLE.format(path=root))
