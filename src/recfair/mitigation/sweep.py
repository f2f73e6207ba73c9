"""Accuracy–fairness trade-off sweeps and the statistics used to judge a mitigation.

* :func:`assess` — one row of numbers for a set of lists: nDCG@k, APLT, exposure Gini,
  coverage and, per user grouping, the nDCG gap (max − min of group means) with its
  bootstrap CI (from :func:`recfair.fairness.user.audit_users`).
* :func:`paired_gap_change` — the change of a group gap between two runs on the same
  users, with a paired bootstrap CI (users resampled within groups, the same draw for
  both runs): "the mitigation shrank the gap" means the CI lies below 0.
* :func:`sweep` — run a mitigation over a grid of λ / ε values → one row per point,
  plus a ``pareto`` column from :func:`pareto_front`.
* :func:`sweep_rerank` / :func:`sweep_penalty` — the two common sweeps ready-made.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from recfair.errors import RecfairError, check_positive_int

__all__ = ["assess", "paired_gap_change", "pareto_front", "sweep", "sweep_penalty", "sweep_rerank"]

log = logging.getLogger(__name__)


def _grouping(train, spec: str):
    from recfair.fairness.groups import parse_groups

    return parse_groups(spec, side="user")[0].assign(train, "user")


def assess(
    recs,
    train,
    test,
    *,
    k: int = 10,
    user_groups: Sequence[str] = ("gender", "activity"),
    metric: str = "ndcg",
    n_bootstrap: int = 200,
    seed: int = 0,
) -> tuple[dict, pd.DataFrame]:
    """Accuracy, item exposure and user-group gaps of ``recs`` (the first ``k`` positions).

    Returns ``(row, per_user)``: ``row`` has ``ndcg@k``, ``recall@k``, ``aplt@k``,
    ``gini@k``, ``coverage@k`` and for each grouping ``g``: ``gap_g`` (max − min of
    group means of ``metric@k``), ``gap_g_low`` / ``gap_g_high`` (bootstrap CI);
    ``per_user`` is :func:`recfair.metrics.evaluate`'s per-user table.
    Groupings whose attribute the dataset lacks are skipped (logged).
    """
    from recfair.fairness.user import audit_users
    from recfair.metrics import evaluate

    k = check_positive_int(k, "k", "assess")
    ev = evaluate(recs.truncate(min(k, recs.k)), test, train=train, k=k)
    col = f"{metric}@{k}"
    row = {f"{m}@{k}": float(ev.overall[f"{m}@{k}"]) for m in ("ndcg", "recall", "aplt", "gini", "coverage")}
    for spec in user_groups:
        try:
            grouping = _grouping(train, spec)
        except RecfairError as exc:
            log.info("assess: skipping user grouping %s (%s)", spec, exc)
            continue
        gaps = audit_users(ev.per_user, grouping, [col], n_bootstrap=n_bootstrap, n_permutations=1, seed=seed).gaps
        g = gaps.iloc[0]
        row[f"gap_{spec}"] = float(g["gap"])
        row[f"gap_{spec}_low"] = float(g["gap_ci_low"])
        row[f"gap_{spec}_high"] = float(g["gap_ci_high"])
    return row, ev.per_user


def paired_gap_change(
    before: pd.DataFrame,
    after: pd.DataFrame,
    grouping,
    metric: str,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Change of a two-group gap between two runs, with a paired percentile-bootstrap CI.

    The gap is oriented by ``before``: ``d = mean_hi − mean_lo`` where ``hi`` is the
    group with the larger mean in ``before``; ``change = |d_after| − |d_before|``
    (negative = the gap shrank).  Each resample draws users with replacement within
    each group (users with the metric defined in both runs) and applies the same draw
    to both runs.

    Returns ``{"before", "after", "change", "low", "high", "n"}``.
    """
    codes = np.asarray(grouping.codes)
    if grouping.n_groups != 2:
        raise RecfairError(f"paired_gap_change needs a two-group attribute; '{grouping.attribute}' has {grouping.n_groups}")
    common = before.index.intersection(after.index)
    a = before.loc[common, metric].to_numpy(np.float64)
    b = after.loc[common, metric].to_numpy(np.float64)
    c = codes[common.to_numpy(np.int64)]
    ok = np.isfinite(a) & np.isfinite(b) & (c >= 0)
    a, b, c = a[ok], b[ok], c[ok]
    idx = [np.flatnonzero(c == g) for g in (0, 1)]
    if min(len(i) for i in idx) < 2:
        raise RecfairError("paired_gap_change needs at least two users with values in each group")
    hi = 0 if a[idx[0]].mean() >= a[idx[1]].mean() else 1
    lo = 1 - hi

    def gaps(sel_hi, sel_lo):
        return a[sel_hi].mean(-1) - a[sel_lo].mean(-1), b[sel_hi].mean(-1) - b[sel_lo].mean(-1)

    d_a, d_b = gaps(idx[hi], idx[lo])
    rng = np.random.default_rng(seed)
    rs_hi = idx[hi][rng.integers(0, len(idx[hi]), (n_bootstrap, len(idx[hi])))]
    rs_lo = idx[lo][rng.integers(0, len(idx[lo]), (n_bootstrap, len(idx[lo])))]
    ba, bb = gaps(rs_hi, rs_lo)
    changes = np.abs(bb) - np.abs(ba)
    q = (1 - confidence) / 2
    low, high = np.quantile(changes, [q, 1 - q])
    return {"before": float(abs(d_a)), "after": float(abs(d_b)), "change": float(abs(d_b) - abs(d_a)),
            "low": float(low), "high": float(high), "n": int(ok.sum())}


def pareto_front(df: pd.DataFrame, maximize: Iterable[str] = (), minimize: Iterable[str] = ()) -> np.ndarray:
    """Boolean mask of rows no other row dominates (≥ on every maximised column, ≤ on every
    minimised one, strictly better on one).  Rows with ``nan`` in an objective are never on the front."""
    cols = [(c, 1.0) for c in maximize] + [(c, -1.0) for c in minimize]
    if not cols:
        raise RecfairError("pareto_front needs at least one column to maximise or minimise")
    v = np.column_stack([df[c].to_numpy(np.float64) * s for c, s in cols])
    finite = np.isfinite(v).all(1)
    front = finite.copy()
    for i in np.flatnonzero(finite):
        others = v[finite]
        dominated = ((others >= v[i]).all(1) & (others > v[i]).any(1)).any()
        front[i] = not dominated
    return front


def sweep(
    grid: Iterable[float],
    make_recs: Callable[[float], object],
    train,
    test,
    *,
    param: str = "lambda",
    k: int = 10,
    user_groups: Sequence[str] = ("gender", "activity"),
    maximize: Sequence[str] | None = None,
    minimize: Sequence[str] | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate ``make_recs(value)`` for every grid value → one row per point.

    ``make_recs`` returns :class:`~recfair.recommendations.Recommendations` (at least
    ``k`` long).  Columns: ``param``, the numbers of :func:`assess`, and ``pareto``
    (on the front of ``maximize`` = ``[ndcg@k]`` and ``minimize`` = the gap of the
    first user grouping, by default).
    """
    rows = []
    for value in grid:
        row, _ = assess(make_recs(value), train, test, k=k, user_groups=user_groups, n_bootstrap=n_bootstrap, seed=seed)
        rows.append({param: value, **row})
        log.info("sweep %s=%s: %s", param, value, row)
    df = pd.DataFrame(rows)
    maximize = list(maximize) if maximize is not None else [f"ndcg@{k}"]
    if minimize is None:
        gap_cols = [c for c in df.columns if c.startswith("gap_") and not c.endswith(("_low", "_high"))]
        minimize = gap_cols[:1]
    df["pareto"] = pareto_front(df, maximize, minimize) if len(df) else np.zeros(0, bool)
    return df


def sweep_rerank(make_reranker: Callable[[float], object], grid, candidates, train, test, *, param="epsilon",
                 k: int = 10, **kwargs) -> pd.DataFrame:
    """:func:`sweep` of a re-ranker: ``make_reranker(value).rerank(candidates, train, k)`` per grid value."""
    return sweep(grid, lambda v: make_reranker(v).rerank(candidates, train, k), train, test, param=param, k=k, **kwargs)


def sweep_penalty(make_model: Callable[[], object], make_penalty: Callable[[float], object], grid, split, *,
                  param="lambda", k: int = 10, **kwargs) -> pd.DataFrame:
    """:func:`sweep` of an in-processing penalty: a fresh ``make_model()`` fitted with
    ``penalty=make_penalty(value)`` per grid value, evaluated on every test user."""
    users = np.flatnonzero(split.test.user_counts > 0)

    def run(value):
        model = make_model().fit(split.train, split.valid, penalty=make_penalty(value))
        return model.recommend(users, k=k)

    return sweep(grid, run, split.train, split.test, param=param, k=k, **kwargs)
