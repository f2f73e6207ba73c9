"""Who gains, who loses: model B against a baseline A on the same users (METRICS.md).

:func:`compare_users` takes two per-user tables as produced by
:func:`recfair.metrics.evaluate` (``Evaluation.per_user``: index = user, one
column per metric) and user groupings, and returns a :class:`Comparison` of two
tidy tables with fixed columns, whatever the input:

* ``groups`` (:data:`COMPARE_GROUP_COLUMNS`) — per attribute × group × metric:
  mean of A, of B, of ``Δ_u = m_B(u) − m_A(u)``; a paired percentile-bootstrap
  CI of mean Δ (users of the group resampled, the same draw for A and B because
  Δ is resampled per user); the shares of users worse off / better off /
  unchanged (the metric's direction decides "worse": lower nDCG, higher error);
  p-values of a sign-flip permutation test and of the Wilcoxon signed-rank
  test.  The first rows (attribute ``"all"``) cover every paired user.
* ``gaps`` (:data:`COMPARE_GAP_COLUMNS`) — per attribute × metric: does B widen
  or narrow the gap A had?  The two groups with the highest and lowest mean
  under A are fixed; ``change = gap_B − gap_A`` (= mean Δ of the high group
  − mean Δ of the low group) with a bootstrap CI and a permutation p-value.

Groupings are :class:`~recfair.fairness.groups.Grouping` objects (rows = user
indices) or a DataFrame of labels (index = users, one column per attribute,
missing label = no group) — the form a study store keeps.  Users without a
value in A or B for a metric are left out of that metric; a user without a
group is only in the ``"all"`` rows.  Random streams are keyed by seed,
attribute, group and metric, so a row never depends on what else is compared.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from recfair.errors import RecfairError, check_fraction, check_positive_int
from recfair.fairness.groups import Grouping
from recfair.fairness.paired import sign_flip_test, wilcoxon_test
from recfair.fairness.stats import bootstrap_means, percentile_ci, permutation_gap_test, rng_for
from recfair.fairness.user import SmallGroupWarning
from recfair.metrics.evaluate import PER_USER_METRICS

__all__ = [
    "ALL",
    "COMPARE_GAP_COLUMNS",
    "COMPARE_GROUP_COLUMNS",
    "Comparison",
    "GroupCodes",
    "compare_users",
    "group_codes",
    "group_labels",
    "metric_direction",
]

COMPARE_GROUP_COLUMNS = (
    "attribute", "group", "metric", "n", "mean_a", "mean_b", "delta", "ci_low", "ci_high",
    "share_worse", "share_better", "share_same", "p_sign_flip", "p_wilcoxon",
)
COMPARE_GAP_COLUMNS = (
    "attribute", "metric", "high_group", "low_group", "gap_a", "gap_b", "change",
    "ci_low", "ci_high", "p_value", "n",
)
#: Attribute and group label of the rows covering every paired user.
ALL = "all"
#: Default metrics: the accuracy metrics (and per-user rating errors) present in both tables.
ACCURACY_METRICS = ("precision", "recall", "hit", "ndcg", "mrr", "map", "user_rmse", "user_mae")
LOWER_IS_BETTER = ("user_rmse", "user_mae")

BAD_TABLE = "per_user_{side} must be a DataFrame indexed by user with one numeric column per metric; {detail}."
NOT_PAIRED = (
    "The per-user tables do not hold the same users: {n_a_only} only in A (e.g. {example_a}), "
    "{n_b_only} only in B (e.g. {example_b}). Compare lists evaluated on the same split, "
    "or pass users='common' to compare the users both hold."
)
BAD_USERS = "The 'users' parameter of compare_users must be 'same' or 'common'. Got {value!r} instead."
METRIC_NOT_IN = "Metric '{metric}' is not a column of per_user_{side}. Columns present: {columns}."
NO_METRICS = "The per-user tables share no accuracy metric column; name the metrics to compare (metrics=[...])."
OUTSIDE_GROUPING = "User index {user} is outside grouping '{attribute}' ({n} users); use groups of the same index space."
NEED_INDICES = (
    "Groupings address users by index, but the per-user tables are indexed by {dtype} ids; "
    "pass a DataFrame of group labels indexed by those ids instead (see group_labels)."
)
MISSING_USERS = "The group-label table has no row for {n} compared users (e.g. {example})."
NOT_EXCLUSIVE = "Grouping '{attribute}' is multi-valued; user groups must not overlap."
SMALL_GROUP = (
    "Group '{group}' of '{attribute}' has {n} paired user(s) for '{metric}' (fewer than {min}): "
    "its confidence interval is NaN and it is left out of the gap change."
)


@dataclass(frozen=True, eq=False)
class Comparison:
    """The two tables of :func:`compare_users` (columns fixed, see the module docstring)."""

    groups: pd.DataFrame
    gaps: pd.DataFrame


@dataclass(frozen=True, eq=False)
class GroupCodes:
    """One grouping resolved onto an ordered user array: ``codes[i]`` is user ``i``'s group (−1: none)."""

    attribute: str
    labels: tuple[str, ...]
    codes: np.ndarray


def metric_direction(metric: str) -> int:
    """``+1`` if higher is better, ``−1`` if lower is better, ``0`` if neither is known.

    >>> metric_direction("ndcg@10"), metric_direction("user_rmse"), metric_direction("arp@10")
    (1, -1, 0)
    """
    base = str(metric).split("@")[0].lower()
    if base in LOWER_IS_BETTER:
        return -1
    spec = PER_USER_METRICS.get(base)
    if spec is None or spec.higher_is_better is None:
        return 0
    return 1 if spec.higher_is_better else -1


def _check_table(frame, side: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise RecfairError(BAD_TABLE.format(side=side, detail=f"got {type(frame).__name__}"))
    if frame.index.has_duplicates:
        raise RecfairError(BAD_TABLE.format(side=side, detail="the index has duplicate users"))


def _pair(per_user_a: pd.DataFrame, per_user_b: pd.DataFrame, metrics, users: str):
    """Aligned ``(users, A values, B values, metric names)``, users sorted."""
    if users not in ("same", "common"):
        raise RecfairError(BAD_USERS.format(value=users))
    _check_table(per_user_a, "a")
    _check_table(per_user_b, "b")
    ia, ib = per_user_a.index, per_user_b.index
    a_only, b_only = ia.difference(ib), ib.difference(ia)
    if users == "same" and (len(a_only) or len(b_only)):
        raise RecfairError(NOT_PAIRED.format(
            n_a_only=len(a_only), n_b_only=len(b_only),
            example_a=a_only[0] if len(a_only) else None, example_b=b_only[0] if len(b_only) else None))
    if metrics is None:
        metrics = [c for c in per_user_a.columns
                   if c in per_user_b.columns and str(c).split("@")[0] in ACCURACY_METRICS]
        if not metrics:
            raise RecfairError(NO_METRICS)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for side, frame in (("a", per_user_a), ("b", per_user_b)):
        for m in metrics:
            if m not in frame.columns:
                raise RecfairError(METRIC_NOT_IN.format(metric=m, side=side, columns=list(frame.columns)))
    common = ia.intersection(ib).sort_values()
    a = per_user_a.loc[common, metrics].to_numpy(dtype=np.float64)
    b = per_user_b.loc[common, metrics].to_numpy(dtype=np.float64)
    return common, a, b, metrics


def group_codes(groupings, users: pd.Index | np.ndarray) -> list[GroupCodes]:
    """Resolve groupings onto ``users`` (in that order).

    ``groupings``: a :class:`Grouping`, a list of them (rows = user indices), or
    a DataFrame of labels indexed by user (one column per attribute; ``None`` /
    ``NaN`` = no group).  Labels of a DataFrame column are sorted as strings.
    """
    users = pd.Index(users)
    if isinstance(groupings, pd.DataFrame):
        missing = users.difference(groupings.index)
        if len(missing):
            raise RecfairError(MISSING_USERS.format(n=len(missing), example=missing[0]))
        out = []
        for col in groupings.columns:
            raw = groupings.loc[users, col]
            present = raw.notna().to_numpy()
            strs = raw.astype(object).where(raw.notna(), None).map(lambda v: None if v is None else str(v))
            labels = tuple(sorted({s for s in strs if s is not None}))
            codes = np.full(len(users), -1, dtype=np.int64)
            codes[present] = pd.Index(labels).get_indexer(strs[present])
            out.append(GroupCodes(str(col), labels, codes))
        return out
    groupings = [groupings] if isinstance(groupings, Grouping) else list(groupings)
    if not groupings:
        return []
    if len(users) and not pd.api.types.is_integer_dtype(users.dtype):
        raise RecfairError(NEED_INDICES.format(dtype=users.dtype))
    rows = users.to_numpy(dtype=np.int64) if len(users) else np.empty(0, dtype=np.int64)
    out = []
    for g in groupings:
        if not g.exclusive:
            raise RecfairError(NOT_EXCLUSIVE.format(attribute=g.attribute))
        all_codes = g.codes
        bad = rows[(rows < 0) | (rows >= all_codes.size)]
        if bad.size:
            raise RecfairError(OUTSIDE_GROUPING.format(user=int(bad[0]), attribute=g.attribute, n=all_codes.size))
        out.append(GroupCodes(g.attribute, g.labels, all_codes[rows]))
    return out


def group_labels(groupings: Grouping | Sequence[Grouping], users) -> pd.DataFrame:
    """Label table of ``users`` (index) × attribute (columns); ``None`` where a user has no group.

    This is the form :func:`compare_users` accepts instead of groupings, and
    the form a study store keeps (so comparisons need no data set later).
    """
    users = pd.Index(users, name="user")
    data = {}
    for gc in group_codes(groupings, users):
        labels = np.array(gc.labels + (None,), dtype=object)
        data[gc.attribute] = labels[gc.codes]
    return pd.DataFrame(data, index=users)


def _group_row(key: tuple[str, str, str], a: np.ndarray, b: np.ndarray, direction: int, opts: dict):
    """One row of the groups table and the bootstrap means of Δ (``None`` if too small)."""
    attr, label, metric = key
    n = a.size
    delta = b - a
    row = {"attribute": attr, "group": label, "metric": metric, "n": n}
    if n == 0:
        nan = float("nan")
        row.update(mean_a=nan, mean_b=nan, delta=nan, ci_low=nan, ci_high=nan, share_worse=nan,
                   share_better=nan, share_same=nan, p_sign_flip=nan, p_wilcoxon=nan)
        return row, None
    signed = delta * direction
    row.update(
        mean_a=float(a.mean()), mean_b=float(b.mean()), delta=float(delta.mean()),
        share_worse=float((signed < 0).mean()) if direction else float("nan"),
        share_better=float((signed > 0).mean()) if direction else float("nan"),
        share_same=float((delta == 0).mean()),
        p_sign_flip=float(sign_flip_test(delta, opts["n_permutations"],
                                         rng_for(opts["seed"], "compare-sign-flip", *key))[0]),
        p_wilcoxon=float(wilcoxon_test(delta)[0]),
    )
    boots = None
    if n >= opts["min_group_size"]:
        boots = bootstrap_means(delta, opts["n_bootstrap"], rng_for(opts["seed"], "compare-bootstrap", *key))[:, 0]
        lo, hi = percentile_ci(boots, opts["confidence"])
        row.update(ci_low=float(lo), ci_high=float(hi))
    else:
        row.update(ci_low=float("nan"), ci_high=float("nan"))
        if label != ALL:
            warnings.warn(SMALL_GROUP.format(group=label, attribute=attr, n=n, metric=metric,
                                             min=opts["min_group_size"]), SmallGroupWarning, stacklevel=4)
    return row, boots


def _gap_row(gc: GroupCodes, metric: str, rows: list[dict], boots: dict, codes: np.ndarray,
             delta: np.ndarray, opts: dict) -> dict:
    """Gap change between the groups with the highest and lowest mean under A."""
    eligible = [g for g in range(len(gc.labels)) if boots.get(g) is not None]
    base = {"attribute": gc.attribute, "metric": metric}
    if len(eligible) < 2:
        nan = float("nan")
        return {**base, "high_group": None, "low_group": None, "gap_a": nan, "gap_b": nan, "change": nan,
                "ci_low": nan, "ci_high": nan, "p_value": nan, "n": 0}
    mean_a = {g: rows[g]["mean_a"] for g in eligible}
    hi = max(eligible, key=lambda g: (mean_a[g], -g))
    lo = min((g for g in eligible if g != hi), key=lambda g: (mean_a[g], g))
    gap_a = rows[hi]["mean_a"] - rows[lo]["mean_a"]
    gap_b = rows[hi]["mean_b"] - rows[lo]["mean_b"]
    ci = percentile_ci(boots[hi] - boots[lo], opts["confidence"])
    pool = (codes == hi) | (codes == lo)
    _, p = permutation_gap_test(delta[pool], (codes[pool] == lo).astype(np.int64), 2, opts["n_permutations"],
                                rng_for(opts["seed"], "compare-gap", gc.attribute, metric))
    return {**base, "high_group": gc.labels[hi], "low_group": gc.labels[lo], "gap_a": gap_a, "gap_b": gap_b,
            "change": gap_b - gap_a, "ci_low": float(ci[0]), "ci_high": float(ci[1]), "p_value": float(p[0]),
            "n": int(pool.sum())}


def compare_users(
    per_user_a: pd.DataFrame,
    per_user_b: pd.DataFrame,
    groupings=(),
    metrics: Sequence[str] | str | None = None,
    *,
    users: str = "same",
    n_bootstrap: int = 1000,
    n_permutations: int = 2000,
    confidence: float = 0.95,
    min_group_size: int = 2,
    seed: int = 0,
) -> Comparison:
    """Per-user differences B − A by group: mean Δ with paired CIs, shares worse/better, paired tests.

    Parameters
    ----------
    per_user_a, per_user_b : DataFrame
        Per-user tables of the baseline A and the model B (``Evaluation.per_user``).
    groupings : Grouping, list of Grouping, or DataFrame of labels
        User groups (see :func:`group_codes`); empty → only the ``"all"`` rows.
    metrics : str or list of str, optional
        Columns to compare (default: the accuracy metrics both tables hold).
    users : {"same", "common"}
        ``"same"`` (default) requires both tables to hold the same users.
    n_bootstrap, n_permutations, confidence, min_group_size, seed
        Resampling settings; same seed ⇒ identical numbers.

    Returns
    -------
    Comparison
        ``groups`` (:data:`COMPARE_GROUP_COLUMNS`) and ``gaps`` (:data:`COMPARE_GAP_COLUMNS`).

    Examples
    --------
    >>> a = pd.DataFrame({"ndcg@10": [0.2, 0.4, 0.1, 0.3]})
    >>> b = pd.DataFrame({"ndcg@10": [0.3, 0.5, 0.1, 0.2]})
    >>> g = Grouping.from_codes("gender", ["F", "M"], [0, 0, 1, 1])
    >>> res = compare_users(a, b, g, n_bootstrap=50, n_permutations=50)
    >>> res.groups[["group", "delta", "share_worse"]].round(3).to_dict("list")
    {'group': ['all', 'F', 'M'], 'delta': [0.025, 0.1, -0.05], 'share_worse': [0.25, 0.0, 0.5]}
    """
    opts = {
        "n_bootstrap": check_positive_int(n_bootstrap, "n_bootstrap", "compare_users"),
        "n_permutations": check_positive_int(n_permutations, "n_permutations", "compare_users"),
        "confidence": check_fraction(confidence, "confidence", "compare_users"),
        "min_group_size": max(2, check_positive_int(min_group_size, "min_group_size", "compare_users")),
        "seed": int(seed),
    }
    index, a, b, metrics = _pair(per_user_a, per_user_b, metrics, users)
    resolved = group_codes(groupings, index)
    group_rows: list[dict] = []
    gap_rows: list[dict] = []
    for j, metric in enumerate(metrics):
        direction = metric_direction(metric)
        ok = ~(np.isnan(a[:, j]) | np.isnan(b[:, j]))
        aj, bj = a[ok, j], b[ok, j]
        group_rows.append(_group_row((ALL, ALL, metric), aj, bj, direction, opts)[0])
        for gc in resolved:
            codes = gc.codes[ok]
            rows, boots = [], {}
            for g, label in enumerate(gc.labels):
                sel = codes == g
                row, boot = _group_row((gc.attribute, label, metric), aj[sel], bj[sel], direction, opts)
                rows.append(row)
                boots[g] = boot
            group_rows.extend(rows)
            gap_rows.append(_gap_row(gc, metric, rows, boots, codes, bj - aj, opts))
    return Comparison(_tidy(group_rows, COMPARE_GROUP_COLUMNS, metrics, resolved),
                      _tidy(gap_rows, COMPARE_GAP_COLUMNS, metrics, resolved))


def _tidy(rows: list[dict], columns: tuple[str, ...], metrics: list[str], resolved: list[GroupCodes]) -> pd.DataFrame:
    """Rows ordered attribute (``all`` first, then the groupings' order) → metric → group; fixed dtypes."""
    frame = pd.DataFrame(rows, columns=list(columns))
    if len(frame):
        att_rank = {ALL: -1, **{gc.attribute: i for i, gc in enumerate(resolved)}}
        met_rank = {m: i for i, m in enumerate(metrics)}
        order = np.lexsort((np.arange(len(frame)), frame["metric"].map(met_rank).to_numpy(),
                            frame["attribute"].map(att_rank).to_numpy()))
        frame = frame.iloc[order].reset_index(drop=True)
    frame["n"] = frame["n"].astype(np.int64)
    for col in columns:
        if col not in ("attribute", "group", "metric", "high_group", "low_group", "n"):
            frame[col] = frame[col].astype(np.float64)
    return frame
