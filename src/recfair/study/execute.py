"""Run one cell: fit (or re-rank the parent's candidates), recommend, evaluate, audit.

:func:`run_cell` is a plain function of plain values, so the same code runs in
the driver, in a process pool and as a Ray task; it never touches the store.
It returns the cell's table rows (DataFrames, keyed by store table) and its
artefact files as bytes; the driver writes them (:mod:`recfair.study.runner`).
A failure is returned as a value (``error``), never raised, so one bad cell
does not stop the others.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recfair.errors import IntegrityError
from recfair.study.config import MitigationConfig
from recfair.study.config_check import build_mitigation, load_study_data
from recfair.study.probe import PROBE, run_probe_cell

__all__ = ["DATA_CHANGED", "MODEL_DIR", "RECS_FILE", "cell_tables", "run_cell"]

RECS_FILE = "recommendations.parquet"
MODEL_DIR = "model"
DATA_CHANGED = "data set {name!r} changed since the study was planned (fingerprint {now}, planned {then})"

_SPLITS: dict[str, Any] = {}


def _split(cell: dict[str, Any]) -> tuple[Any, Any]:
    """The cell's data set and split (cached per process)."""
    import json

    from recfair.data import fingerprint, make_split

    ds = load_study_data(cell["data_name"], cell["data_options"])
    key = json.dumps([cell["data_name"], cell["data_options"], cell["split"], cell["seed"]], sort_keys=True)
    if key not in _SPLITS:
        now = fingerprint(ds)
        if now != cell["fingerprint"]:
            raise IntegrityError(DATA_CHANGED.format(name=cell["dataset"], now=now, then=cell["fingerprint"]))
        _SPLITS[key] = make_split(ds, seed=cell["seed"], **cell["split"])
    return ds, _SPLITS[key]


def _mitigation(cell: dict[str, Any]) -> Any:
    spec = dict(cell["mitigation_spec"])
    lam = spec.pop("lambda", None)
    return build_mitigation(MitigationConfig.model_validate(spec), lam)


def _fit(cell: dict[str, Any], split: Any, work: Path, threads: int) -> tuple[Any, dict[str, float]]:
    """Fit the cell's model (with its pre- or in-processing mitigation) and list ``n_candidates`` per user."""
    from recfair.models.config import RuntimeOptions
    from recfair.runs.pipeline import recommend_test, train_model

    penalty = weights = None
    train = split.train
    if cell["stage"] == "in":
        penalty = _mitigation(cell)
    elif cell["stage"] == "pre":
        train, weights = _mitigation(cell).apply(split.train)
        split = dataclasses.replace(split, train=train) if train is not split.train else split
    runtime = RuntimeOptions(threads=threads, progress=False)
    model, fit_s = train_model(cell["model"], split, dict(cell["params"]), seed=cell["seed"],
                               sample_weight=weights, penalty=penalty, runtime=runtime)
    t0 = time.perf_counter()
    ev = cell["evaluation"]
    recs, _ = recommend_test(model, split, ev["k"], candidates=ev["n_candidates"])
    seconds = {"fit": fit_s, "recommend": time.perf_counter() - t0}
    model.save(work / MODEL_DIR)
    return recs, seconds


def _rerank(cell: dict[str, Any], split: Any, parent_recs: bytes) -> tuple[Any, dict[str, float]]:
    """Re-rank the parent's stored candidates (no refit)."""
    from recfair.recommendations import Recommendations

    t0 = time.perf_counter()
    candidates = Recommendations.from_frame(pd.read_parquet(io.BytesIO(parent_recs)),
                                            k=cell["evaluation"]["n_candidates"])
    reranker = _mitigation(cell)
    recs = reranker.rerank(candidates, split.train, cell["evaluation"]["k"])
    return recs, {"rerank": time.perf_counter() - t0}


def cell_tables(recs: Any, split: Any, cell: dict[str, Any],
                seconds: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The store rows of one cell's top-k lists: per-user metrics, groups, gaps, strata, exposure, item fairness.

    ``seconds`` (optional) receives the ``evaluate`` and ``audit`` phase times.
    """
    import warnings

    from recfair.fairness import audit
    from recfair.fairness.compare import group_labels
    from recfair.fairness.groups import parse_groups
    from recfair.fairness.strata import activity_strata, gaps_within_strata
    from recfair.metrics import evaluate
    from recfair.metrics.beyond import popularity_tiers

    ev_cfg, seed, train = cell["evaluation"], cell["seed"], split.train
    k, metrics = ev_cfg["k"], ev_cfg["metrics"]
    t0 = time.perf_counter()
    recs = recs.truncate(k)
    ev = evaluate(recs, split.test, train=train, k=k)
    t1 = time.perf_counter()
    per_user = ev.per_user[[m for m in metrics if m in ev.per_user.columns]]
    opts = {"n_bootstrap": ev_cfg["n_bootstrap"], "seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small groups are reported in the tables (n), not as warnings
        au = audit(recs, split, groups=",".join(ev_cfg["groups"]), metrics=list(per_user.columns),
                   item_groups=",".join(ev_cfg["item_groups"]) or None, k=k,
                   n_permutations=ev_cfg["n_permutations"], per_user=per_user, **opts)
        groupings = [s.assign(train, "user") for s in parse_groups(",".join(ev_cfg["groups"]))]
        strata = activity_strata(train, ev_cfg["strata"])
        strata_rows = [gaps_within_strata(per_user, g, strata, list(per_user.columns), **opts)
                       for g in groupings if not g.attribute.startswith("activity")]
    if seconds is not None:
        seconds.update({"evaluate": t1 - t0, "audit": time.perf_counter() - t1})
    raw = np.asarray(train.user_ids)[per_user.index.to_numpy()].astype(str)
    long = per_user.set_axis(raw).rename_axis("user_id").reset_index().melt("user_id", var_name="metric")
    labels = group_labels(groupings, per_user.index).set_axis(raw).rename_axis("user_id").reset_index()
    exposure = np.asarray(ev.exposure, dtype=float)
    overall = {**ev.overall, **dict(zip(au.item_metrics["metric"], au.item_metrics["value"]))}
    return {
        "overall": pd.DataFrame({"metric": list(overall), "value": [float(v) for v in overall.values()]}),
        "user_metrics": long.assign(k=k),
        "user_groups": labels.melt("user_id", var_name="attribute", value_name="group"),
        "group_metrics": au.user_groups, "gaps": au.user_gaps,
        "strata_gaps": pd.concat(strata_rows, ignore_index=True) if strata_rows else None,
        "item_exposure": pd.DataFrame({"item_id": np.asarray(train.item_ids).astype(str), "exposure": exposure,
                                       "share": exposure / max(exposure.sum(), 1e-12),
                                       "tier": popularity_tiers(train)}),
        "item_fairness": au.item_fairness,
    }


def _files(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}


def run_cell(cell: dict[str, Any], parent_recs: bytes | dict[str, bytes] | None = None,
             threads: int = 1) -> dict[str, Any]:
    """Compute one cell; return ``{cell_id, tables, files, seconds, started, error}`` (``error`` None on success).

    ``parent_recs``: a post-processing cell's parent candidates (Parquet bytes),
    or a probe cell's parent model (its ``model/`` files as bytes).
    """
    import datetime as dt

    import torch

    torch.set_num_threads(max(1, int(threads)))
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0, cpu0 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {"cell_id": cell["cell_id"], "started": started, "tables": {}, "files": {},
                           "seconds": {}, "error": None}
    try:
        ds, split = _split(cell)
        with tempfile.TemporaryDirectory(prefix="recfair-cell-") as tmp:
            work = Path(tmp)
            if cell["kind"] == PROBE:
                tables, seconds = run_probe_cell(cell, ds, split, parent_recs, work, threads)
            else:
                if cell["kind"] == "post":
                    recs, seconds = _rerank(cell, split, parent_recs)
                else:
                    recs, seconds = _fit(cell, split, work, threads)
                recs.save(work / RECS_FILE, dataset=ds)
                tables = cell_tables(recs, split, cell, seconds)
            out["files"] = _files(work)
        out["tables"] = {name: frame for name, frame in tables.items() if frame is not None}
    except Exception as exc:  # a failing cell is stored with its error; the study goes on
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        seconds = {}
    out["seconds"] = {**seconds, "total": time.perf_counter() - t0, "cpu": time.process_time() - cpu0}
    return out
