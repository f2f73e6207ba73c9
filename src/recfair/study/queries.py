"""Answers read from a study store only (no model, no data set): status, summary, comparisons.

What ``recfair study status``, the summary after ``recfair study run`` and
``recfair compare`` print.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from recfair.errors import RecfairError
from recfair.study.store import Store

if TYPE_CHECKING:  # imported lazily at run time
    from recfair.fairness.compare import Comparison

__all__ = ["NO_GROUPING", "PHASES", "UNKNOWN_CELL", "cell_times", "compare_cells", "study_status", "study_summary"]

UNKNOWN_CELL = "Cell {cell_id!r} is not a done cell of {root}. Done cells: {ids}."
NO_GROUPING = "Grouping {name!r} is not stored for cell {cell_id}. Stored groupings: {stored}."


def study_status(root: str | Path) -> pd.DataFrame:
    """One row per cell (planned ones first, in plan order): ``cell_id, model, mitigation, seed, status, error``."""
    with Store(root, read_only=True) as store:
        plan = store.meta().get("plan") or []
        return store.status(planned=[p for p in plan if isinstance(p, dict)])


def _label(row: pd.Series) -> str:
    params = json.loads(row["mitigation_params"] or "{}")
    lam = params.get("lambda_")
    text = row["model"] if row["mitigation"] in (None, "none") else f"{row['model']} + {row['mitigation']}"
    return text if lam is None else f"{text} λ={lam:g}"


def study_summary(root: str | Path, k: int | None = None) -> pd.DataFrame:
    """Per model × mitigation (means over seeds): accuracy, user-group gaps of nDCG, exposure Gini, seconds."""
    with Store(root, read_only=True) as store:
        cells = store.cells()
        cells = cells[cells["status"] == "done"].copy()
        if cells.empty:
            return pd.DataFrame()
        overall, gaps = store.table("overall"), store.table("gaps")
    metrics = list(dict.fromkeys(m for m in overall["metric"] if m.startswith(("ndcg@", "recall@", "gini@"))))
    lead = next((m for m in metrics if m.startswith("ndcg@")), None)
    cells["label"] = cells.apply(_label, axis=1)
    cells["secs"] = [json.loads(s or "{}").get("total", float("nan")) for s in cells["seconds"]]
    rows = []
    for label, grp in cells.groupby("label", sort=False):
        ids = set(grp["cell_id"])
        row = {"model × mitigation": label, "seeds": len(grp)}
        mine = overall[overall["cell_id"].isin(ids)]
        for m in metrics:
            row[m] = mine.loc[mine["metric"] == m, "value"].mean()
        g = gaps[gaps["cell_id"].isin(ids) & (gaps["metric"] == lead)]
        for attr, sub in g.groupby("attribute", sort=False):
            row[f"{attr} gap"] = sub["gap"].mean()
        row["seconds/cell"] = grp["secs"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


#: Phases of a cell, in the order they run (``total``: the whole cell's wall time; ``cpu``: its process CPU time).
PHASES = ("fit", "recommend", "rerank", "probe", "evaluate", "audit", "compare", "total", "cpu")


def _cell_type(row: Any) -> str:
    """``model / stage`` of a stored cell (stage none, pre, in, post or probe)."""
    config = json.loads(row.config or "{}") if isinstance(row.config, str) else {}
    stage = (config.get("mitigation") or {}).get("stage")
    if stage is None and row.mitigation not in (None, "none"):
        stage = "post" if isinstance(row.parent_id, str) else "in/pre"
    return f"{row.model} / {stage or 'none'}"


def cell_times(root: str | Path, stat: str = "mean") -> pd.DataFrame:
    """Seconds per cell type (model / stage) and phase: one row per type, ``cells`` then a column per phase.

    ``stat`` is ``"mean"`` or ``"max"`` over the type's done cells.  ``compare``
    is the time spent comparing the cell with the baseline and its unmitigated self.
    """
    from recfair.study.runner import COMPARE_SECONDS

    with Store(root, read_only=True) as store:
        cells, compare = store.cells(), store.meta().get(COMPARE_SECONDS) or {}
    cells = cells[cells["status"] == "done"]
    rows = []
    for r in cells.itertuples():
        secs = json.loads(r.seconds or "{}")
        if r.cell_id in compare:
            secs["compare"] = float(compare[r.cell_id])
        rows.append({"cell type": _cell_type(r), **secs})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    columns = [p for p in PHASES if p in frame.columns]
    grouped = frame.groupby("cell type", sort=False)[columns]
    summary = (grouped.max() if stat == "max" else grouped.mean()).round(2)
    summary.insert(0, "cells", frame.groupby("cell type", sort=False).size())
    return summary.reset_index()


def compare_cells(root: str | Path, cell_a: str, cell_b: str, groups: list[str] | None = None, *,
                  n_bootstrap: int = 1000, n_permutations: int = 2000, seed: int = 0) -> Comparison:
    """Who gains, who loses: cell B vs cell A per group, from the store's per-user rows.

    ``groups`` names stored groupings of A (default: all of them).  Returns a
    :class:`~recfair.fairness.compare.Comparison`.
    """
    from recfair.fairness.compare import compare_users

    with Store(root, read_only=True) as store:
        done = store.done_ids()
        for cid in (cell_a, cell_b):
            if cid not in done:
                raise RecfairError(UNKNOWN_CELL.format(cell_id=cid, root=root, ids=", ".join(sorted(done)) or "none"))
        a, b, labels = store.per_user(cell_a), store.per_user(cell_b), store.user_groups(cell_a)
    for name in groups or ():
        if name not in labels.columns:
            raise RecfairError(NO_GROUPING.format(name=name, cell_id=cell_a, stored=", ".join(labels.columns)))
    if groups:
        labels = labels[list(groups)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compare_users(a, b, labels, users="common", n_bootstrap=n_bootstrap,
                             n_permutations=n_permutations, seed=seed)
