"""Demographic gaps within activity strata (METRICS.md, "within strata").

Activity confounds demographics in recommender data: a group that rates more
gets better lists, so a gender gap may be an activity gap in disguise.
:func:`gaps_within_strata` computes a group gap *inside* each stratum of a
control grouping (by default activity quantiles, :func:`activity_strata`) and
combines the strata weighted by their size — direct standardisation, the role
``control_features`` plays in Fairlearn's ``MetricFrame``.

The compared pair is fixed by the crude (unstratified) means: the groups with
the highest and the lowest mean.  Inside stratum ``s`` the gap is
``mean_high,s − mean_low,s``; a stratum enters the adjusted gap only when both
groups have at least ``min_group_size`` users there, with weight
``n_high,s + n_low,s``.  The bootstrap resamples users within every
(stratum, group) cell.  The table (:data:`STRATA_COLUMNS`) has one row per
stratum (``kind="stratum"``), then the ``"crude"`` and ``"adjusted"`` rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.errors import RecfairError, check_fraction, check_positive_int
from recfair.fairness.compare import ALL, GroupCodes, group_codes
from recfair.fairness.groups import Grouping
from recfair.fairness.stats import bootstrap_means, percentile_ci, rng_for
from recfair.fairness.user import metric_columns

__all__ = ["STRATA_COLUMNS", "activity_strata", "gaps_within_strata"]

STRATA_COLUMNS = (
    "attribute", "strata", "kind", "stratum", "metric", "high_group", "low_group",
    "mean_high", "mean_low", "gap", "ci_low", "ci_high", "n", "weight",
)
NOT_A_TABLE = "per_user must be a DataFrame indexed by user with one numeric column per metric; got {kind}."
METRIC_NOT_IN = "Metric '{metric}' is not a column of per_user. Columns present: {columns}."
ONE_GROUPING = "gaps_within_strata takes one grouping and one strata grouping; got {n} for '{what}'."


def activity_strata(train, n_strata: int = 5) -> Grouping:
    """Users in ``n_strata`` quantile bins of training interactions (``"q1"`` = least active).

    Users with equal activity always share a stratum, so heavy ties can give
    fewer strata than asked.  Labels read ``"q1 (1-24)"``: stratum and the
    range of training interactions it holds.

    >>> class T: user_counts = np.array([1, 2, 3, 4, 5, 6])
    >>> activity_strata(T(), 3).labels
    ('q1 (1-2)', 'q2 (3-4)', 'q3 (5-6)')
    """
    n_strata = check_positive_int(n_strata, "n_strata", "activity_strata")
    counts = np.asarray(train.user_counts, dtype=np.int64)
    ranks = pd.Series(counts).rank(method="min").to_numpy() - 1  # ties share the lowest rank
    raw = np.floor(ranks * n_strata / max(counts.size, 1)).astype(np.int64)
    used = np.unique(raw)
    codes = np.searchsorted(used, raw)
    labels = [f"q{i + 1} ({counts[codes == i].min()}-{counts[codes == i].max()})" for i in range(used.size)]
    return Grouping.from_codes(f"activity_q{n_strata}", labels, codes)


def _one(grouping, users: pd.Index, what: str) -> GroupCodes:
    resolved = group_codes(grouping, users)
    if len(resolved) != 1:
        raise RecfairError(ONE_GROUPING.format(n=len(resolved), what=what))
    return resolved[0]


def _cell_boot(values: np.ndarray, key: tuple[str, ...], opts: dict) -> np.ndarray:
    return bootstrap_means(values, opts["n_bootstrap"], rng_for(opts["seed"], "strata", *key))[:, 0]


def _metric_rows(gc: GroupCodes, sc: GroupCodes, metric: str, values: np.ndarray, opts: dict) -> list[dict]:
    """Stratum rows, then the crude and the adjusted row, for one metric."""
    ok = ~np.isnan(values) & (gc.codes >= 0) & (sc.codes >= 0)
    v, g, s = values[ok], gc.codes[ok], sc.codes[ok]
    base = {"attribute": gc.attribute, "strata": sc.attribute, "metric": metric}
    nan = float("nan")
    sizes = np.bincount(g, minlength=len(gc.labels))
    eligible = [i for i in range(len(gc.labels)) if sizes[i] >= opts["min_group_size"]]
    if len(eligible) < 2:
        empty = {"high_group": None, "low_group": None, "mean_high": nan, "mean_low": nan, "gap": nan,
                 "ci_low": nan, "ci_high": nan, "n": 0, "weight": nan}
        return [{**base, "kind": kind, "stratum": ALL, **empty} for kind in ("crude", "adjusted")]
    means = {i: float(v[g == i].mean()) for i in eligible}
    hi = max(eligible, key=lambda i: (means[i], -i))
    lo = min((i for i in eligible if i != hi), key=lambda i: (means[i], i))
    pair = {"high_group": gc.labels[hi], "low_group": gc.labels[lo]}
    rows, gaps, weights, boot_gaps = [], [], [], []
    for k, label in enumerate(sc.labels):
        vh, vl = v[(s == k) & (g == hi)], v[(s == k) & (g == lo)]
        row = {**base, **pair, "kind": "stratum", "stratum": label, "n": int(vh.size + vl.size)}
        if min(vh.size, vl.size) >= opts["min_group_size"]:
            bh = _cell_boot(vh, (gc.attribute, sc.attribute, label, pair["high_group"], metric), opts)
            bl = _cell_boot(vl, (gc.attribute, sc.attribute, label, pair["low_group"], metric), opts)
            ci = percentile_ci(bh - bl, opts["confidence"])
            gap = float(vh.mean() - vl.mean())
            row.update(mean_high=float(vh.mean()), mean_low=float(vl.mean()), gap=gap,
                       ci_low=float(ci[0]), ci_high=float(ci[1]), weight=float(row["n"]))
            gaps.append(gap)
            weights.append(float(row["n"]))
            boot_gaps.append(bh - bl)
        else:
            row.update(mean_high=nan, mean_low=nan, gap=nan, ci_low=nan, ci_high=nan, weight=0.0)
        rows.append(row)
    total = float(sum(weights))
    n_used = int(sum(r["n"] for r in rows if r["weight"] > 0))
    for row in rows:
        row["weight"] = row["weight"] / total if total else 0.0
    bh = _cell_boot(v[g == hi], (gc.attribute, ALL, pair["high_group"], metric), opts)
    bl = _cell_boot(v[g == lo], (gc.attribute, ALL, pair["low_group"], metric), opts)
    ci = percentile_ci(bh - bl, opts["confidence"])
    rows.append({**base, **pair, "kind": "crude", "stratum": ALL, "mean_high": means[hi], "mean_low": means[lo],
                 "gap": means[hi] - means[lo], "ci_low": float(ci[0]), "ci_high": float(ci[1]),
                 "n": int(sizes[hi] + sizes[lo]), "weight": 1.0})
    adjusted = {**base, **pair, "kind": "adjusted", "stratum": ALL, "mean_high": nan, "mean_low": nan,
                "gap": nan, "ci_low": nan, "ci_high": nan, "n": 0, "weight": 1.0}
    if total:
        w = np.asarray(weights) / total
        ci = percentile_ci(np.tensordot(w, np.vstack(boot_gaps), axes=1), opts["confidence"])
        adjusted.update(gap=float(np.dot(w, gaps)), ci_low=float(ci[0]), ci_high=float(ci[1]),
                        n=n_used)
    rows.append(adjusted)
    return rows


def gaps_within_strata(
    per_user: pd.DataFrame,
    grouping,
    strata,
    metrics=None,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    min_group_size: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """A group gap inside each stratum of a control grouping, and their size-weighted combination.

    Parameters
    ----------
    per_user : DataFrame
        Index = users, one column per metric (``Evaluation.per_user``).
    grouping : Grouping or one-column DataFrame of labels
        The groups compared (e.g. gender).
    strata : Grouping or one-column DataFrame of labels
        The control (e.g. :func:`activity_strata` of the training set).
    metrics : str or list of str, optional
        Default: every numeric column.
    n_bootstrap, confidence, min_group_size, seed
        Resampling settings; same seed ⇒ identical numbers.

    Returns
    -------
    DataFrame
        Columns :data:`STRATA_COLUMNS`; per metric the stratum rows, then
        ``kind="crude"`` and ``kind="adjusted"`` (``stratum="all"``).
    """
    opts = {
        "n_bootstrap": check_positive_int(n_bootstrap, "n_bootstrap", "gaps_within_strata"),
        "confidence": check_fraction(confidence, "confidence", "gaps_within_strata"),
        "min_group_size": max(2, check_positive_int(min_group_size, "min_group_size", "gaps_within_strata")),
        "seed": int(seed),
    }
    if not isinstance(per_user, pd.DataFrame):
        raise RecfairError(NOT_A_TABLE.format(kind=type(per_user).__name__))
    frame = per_user.sort_index(kind="stable")
    metrics = metric_columns(frame, metrics, METRIC_NOT_IN)
    gc = _one(grouping, frame.index, "grouping")
    sc = _one(strata, frame.index, "strata")
    rows = []
    for m in metrics:
        rows.extend(_metric_rows(gc, sc, m, frame[m].to_numpy(dtype=np.float64), opts))
    out = pd.DataFrame(rows, columns=list(STRATA_COLUMNS))
    out["n"] = out["n"].astype(np.int64)
    for col in ("mean_high", "mean_low", "gap", "ci_low", "ci_high", "weight"):
        out[col] = out[col].astype(np.float64)
    return out
