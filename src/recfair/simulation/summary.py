"""Drift tables: a metric per round, mean and confidence interval across seeds.

The input is the long ``rounds`` rows of several trajectories with a ``series``
label (model × mitigation) and a ``seed``; the output has one row per series ×
round × metric with ``mean``, a Student-t ``ci_low``/``ci_high`` across seeds
(the seeds' trajectories are the independent replicates; the interval is NaN
with one seed) and ``n`` (seeds).

>>> rows = pd.DataFrame({"series": "pop", "seed": [0, 1], "round": 1, "metric": "gini", "value": [0.5, 0.7]})
>>> drift_table(rows)[["mean", "n"]].to_dict("records")
[{'mean': 0.6, 'n': 2}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.errors import RecfairError

__all__ = ["DRIFT_COLUMNS", "change_table", "drift_table"]

DRIFT_COLUMNS = ("series", "round", "metric", "mean", "ci_low", "ci_high", "n")
MISSING_COLUMNS = "drift_table needs columns {needed}; got {got}."


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    from scipy import stats

    v = values[~np.isnan(values)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def drift_table(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and CI across seeds of every (series, round, metric) (columns :data:`DRIFT_COLUMNS`)."""
    needed = ("series", "seed", "round", "metric", "value")
    if any(c not in rows.columns for c in needed):
        raise RecfairError(MISSING_COLUMNS.format(needed=list(needed), got=list(rows.columns)))
    out = []
    for (series, rnd, metric), grp in rows.groupby(["series", "round", "metric"], sort=False):
        mean, lo, hi = _interval(grp["value"].to_numpy(np.float64), confidence)
        out.append((series, int(rnd), metric, mean, lo, hi, int(grp["seed"].nunique())))
    return pd.DataFrame(out, columns=list(DRIFT_COLUMNS))


def change_table(rows: pd.DataFrame, metrics: list[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per series × metric: first-round and last-round means and the change last − first (CI across seeds).

    The change is computed within each seed first (a paired difference), so its
    interval is narrower than the two rounds' intervals suggest.
    """
    rows = rows[rows["metric"].isin(metrics)]
    out = []
    for (series, metric), grp in rows.groupby(["series", "metric"], sort=False):
        wide = grp.pivot(index="seed", columns="round", values="value").sort_index(axis=1)
        measured = [c for c in wide.columns if wide[c].notna().any()]
        if not measured:
            continue
        first, last = measured[0], measured[-1]  # e.g. new-user accuracy starts when the first users arrive
        diff = (wide[last] - wide[first]).to_numpy(np.float64)
        mean, lo, hi = _interval(diff, confidence)
        out.append({"series": series, "metric": metric, "first": float(wide[first].mean()),
                    "last": float(wide[last].mean()), "change": mean, "ci_low": lo, "ci_high": hi,
                    "n": int(len(wide))})
    return pd.DataFrame(out, columns=["series", "metric", "first", "last", "change", "ci_low", "ci_high", "n"])
