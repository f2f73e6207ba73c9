"""User-side fairness: any per-user metric column, disaggregated by user group.

:func:`audit_users` takes the per-user table of
:func:`recfair.metrics.evaluate` (index = user index, one column per metric) and
one or more :class:`~recfair.fairness.groups.Grouping` and returns two tidy
tables with fixed columns (:data:`USER_GROUP_COLUMNS`, :data:`USER_GAP_COLUMNS`):

* per group × metric: mean, percentile-bootstrap CI (users resampled within
  the group), ``n`` users used, ``n_missing`` users of the group with ``nan``
  (e.g. no test items — excluded and counted);
* per attribute × metric: gap = max − min of the group means, a bootstrap CI
  of that difference (between the two groups that attain the observed max and
  min, kept fixed), ratio = min / max, and the permutation-test p-value.

Groups with fewer than ``min_group_size`` users (default 2, the least a
bootstrap can resample) get ``nan`` bounds and a warning, and are left out of
the gap, ratio and permutation test — never a crash.  Rows are processed in
user-index order, so results never depend on the order of the input rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recfair.errors import RecfairError, check_fraction, check_positive_int
from recfair.fairness.groups import Grouping
from recfair.fairness.stats import bootstrap_means, group_means, percentile_ci, permutation_gap_test, rng_for

__all__ = ["USER_GAP_COLUMNS", "USER_GROUP_COLUMNS", "UserAudit", "audit_users", "metric_columns", "ugf"]

USER_GROUP_COLUMNS = ("attribute", "group", "metric", "value", "ci_low", "ci_high", "n", "n_missing")
USER_GAP_COLUMNS = (
    "attribute", "metric", "gap", "gap_ci_low", "gap_ci_high", "ratio", "p_value",
    "n_groups", "max_group", "min_group", "n", "n_missing", "n_ungrouped",
)

SMALL_GROUP = (
    "Group '{group}' of '{attribute}' has {n} user(s) with a '{metric}' value (fewer than {min}): "
    "its confidence interval is NaN and it is left out of the gap and the permutation test."
)
NOT_EXCLUSIVE = "User grouping '{attribute}' is multi-valued; user groups must not overlap."
BAD_PER_USER = "per_user must be a DataFrame indexed by user index with one numeric column per metric; {detail}."
UNKNOWN_METRIC = "Metric '{metric}' is not a column of the per-user table. Columns present: {columns}."


class SmallGroupWarning(UserWarning):
    """A group is too small to resample; its CI is NaN."""


@dataclass(frozen=True, eq=False)
class UserAudit:
    """The two tables of :func:`audit_users`."""

    groups: pd.DataFrame
    gaps: pd.DataFrame


def ugf(values: np.ndarray, advantaged: np.ndarray) -> float:
    """User-oriented group fairness (Li et al. 2021): ``|mean_adv − mean_disadv|``.

    ``nan`` values are ignored; ``nan`` when either side has no value.
    """
    v = np.asarray(values, dtype=np.float64)
    a = np.asarray(advantaged, dtype=bool)
    ok = ~np.isnan(v)
    if not (ok & a).any() or not (ok & ~a).any():
        return float("nan")
    return float(abs(v[ok & a].mean() - v[ok & ~a].mean()))


def metric_columns(per_user: pd.DataFrame, metrics=None, missing: str = UNKNOWN_METRIC) -> list[str]:
    """The metric columns of a per-user table to analyse: ``metrics`` (a name or a list), each a column
    of ``per_user`` (else :class:`RecfairError` with the ``missing`` message, formatted with ``metric`` and
    ``columns``), or by default every numeric, non-boolean column."""
    if metrics is None:
        metrics = [c for c in per_user.columns if pd.api.types.is_numeric_dtype(per_user[c])
                   and not pd.api.types.is_bool_dtype(per_user[c])]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for m in metrics:
        if m not in per_user.columns:
            raise RecfairError(missing.format(metric=m, columns=list(per_user.columns)))
    return metrics


def _check_per_user(per_user: pd.DataFrame, metrics) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if not isinstance(per_user, pd.DataFrame):
        raise RecfairError(BAD_PER_USER.format(detail=f"got {type(per_user).__name__}"))
    if per_user.index.has_duplicates:
        raise RecfairError(BAD_PER_USER.format(detail="the index has duplicate users"))
    if not pd.api.types.is_integer_dtype(per_user.index.dtype) and len(per_user):
        raise RecfairError(BAD_PER_USER.format(detail=f"the index has dtype {per_user.index.dtype}"))
    metrics = metric_columns(per_user, metrics)
    frame = per_user.sort_index(kind="stable")
    users = frame.index.to_numpy(dtype=np.int64)
    values = frame[metrics].to_numpy(dtype=np.float64) if metrics else np.empty((len(frame), 0))
    return users, values, metrics


def _blocks(values: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """Metric columns grouped by their ``nan`` pattern (shared resampling per block)."""
    out: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    nan = np.isnan(values)
    for j in range(values.shape[1]):
        key = np.packbits(nan[:, j]).tobytes()
        out.setdefault(key, (~nan[:, j], []))[1].append(j)
    return list(out.values())


def audit_users(
    per_user: pd.DataFrame,
    groupings: Grouping | list[Grouping],
    metrics=None,
    *,
    n_bootstrap: int = 1000,
    n_permutations: int = 2000,
    confidence: float = 0.95,
    min_group_size: int = 2,
    seed: int = 0,
) -> UserAudit:
    """Per-group means with bootstrap CIs, gaps, ratios and permutation p-values.

    Parameters
    ----------
    per_user : DataFrame
        Index = user indices (the grouping's row space), columns = metrics.
    groupings : Grouping or list of Grouping
        Exclusive user groupings (from :meth:`GroupSpec.assign`).
    metrics : list of str, optional
        Columns to audit (default: every numeric column).
    n_bootstrap, n_permutations : int
        Resamples for the CIs and permutations for the p-values.
    confidence : float
        CI level (default 0.95).
    min_group_size : int
        Smaller groups get NaN bounds, a warning, and no part in gaps/tests.
    seed : int
        Same seed ⇒ identical numbers.

    Returns
    -------
    UserAudit
        ``groups`` (columns :data:`USER_GROUP_COLUMNS`) and ``gaps``
        (:data:`USER_GAP_COLUMNS`), always DataFrames with those columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.fairness.groups import Grouping
    >>> pu = pd.DataFrame({"ndcg@10": [0.1, 0.3, 0.2, 0.4]})
    >>> g = Grouping.from_codes("gender", ["F", "M"], [0, 0, 1, 1])
    >>> res = audit_users(pu, g, n_bootstrap=50, n_permutations=50)
    >>> res.gaps[["attribute", "metric", "gap"]].round(3).to_dict("records")
    [{'attribute': 'gender', 'metric': 'ndcg@10', 'gap': 0.1}]
    """
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", "audit_users")
    n_permutations = check_positive_int(n_permutations, "n_permutations", "audit_users")
    confidence = check_fraction(confidence, "confidence", "audit_users")
    min_group_size = max(2, check_positive_int(min_group_size, "min_group_size", "audit_users"))
    groupings = [groupings] if isinstance(groupings, Grouping) else list(groupings)
    users, values, metrics = _check_per_user(per_user, metrics)
    group_rows: list[dict] = []
    gap_rows: list[dict] = []
    blocks = _blocks(values)
    for grouping in groupings:
        if not grouping.exclusive:
            raise RecfairError(NOT_EXCLUSIVE.format(attribute=grouping.attribute))
        codes_all = grouping.codes
        if len(users) and (users.min() < 0 or users.max() >= codes_all.size):
            raise RecfairError(BAD_PER_USER.format(
                detail=f"user index {int(users.max())} is outside the grouping's {codes_all.size} users"))
        codes = codes_all[users]
        g_rows: dict[tuple[int, int], dict] = {}
        for valid, cols in blocks:
            _audit_block(grouping, codes, values, valid, cols, metrics, n_bootstrap, n_permutations,
                         confidence, min_group_size, seed, g_rows, gap_rows)
        group_rows.extend(g_rows[key] for key in sorted(g_rows))
    groups = pd.DataFrame(group_rows, columns=list(USER_GROUP_COLUMNS))
    gaps = pd.DataFrame(gap_rows, columns=list(USER_GAP_COLUMNS))
    # blocks visit metrics by nan pattern; report them in the caller's metric order
    rank = gaps["metric"].map({m: i for i, m in enumerate(metrics)}).to_numpy()
    att = gaps["attribute"].map({g.attribute: i for i, g in enumerate(groupings)}).to_numpy()
    gaps = gaps.iloc[np.lexsort((rank, att))].reset_index(drop=True) if len(gaps) else gaps
    for col in ("n", "n_missing"):
        groups[col] = groups[col].astype(np.int64)
    for col in ("n_groups", "n", "n_missing", "n_ungrouped"):
        gaps[col] = gaps[col].astype(np.int64)
    return UserAudit(groups, gaps)


def _audit_block(grouping, codes, values, valid, cols, metrics, n_bootstrap, n_permutations,
                 confidence, min_group_size, seed, g_rows, gap_rows) -> None:
    attr, G = grouping.attribute, grouping.n_groups
    in_group = codes >= 0
    use = valid & in_group
    v = values[np.ix_(use, cols)]
    c = codes[use]
    means, sizes = group_means(v, c, G)
    missing = np.bincount(codes[in_group & ~valid], minlength=G)
    boots: dict[int, np.ndarray] = {}
    for g, label in enumerate(grouping.labels):
        n_g = int(sizes[g])
        lo = hi = np.full(len(cols), np.nan)
        if n_g >= min_group_size:
            boots[g] = bootstrap_means(v[c == g], n_bootstrap, rng_for(seed, "bootstrap", attr, label))
            lo, hi = percentile_ci(boots[g], confidence)
        else:
            warnings.warn(SMALL_GROUP.format(group=label, attribute=attr, n=n_g, metric=metrics[cols[0]],
                                             min=min_group_size), SmallGroupWarning, stacklevel=4)
        for jj, j in enumerate(cols):
            g_rows[(g, j)] = {
                "attribute": attr, "group": label, "metric": metrics[j], "value": means[g, jj],
                "ci_low": lo[jj], "ci_high": hi[jj], "n": n_g, "n_missing": int(missing[g]),
            }
    eligible = np.array(sorted(boots), dtype=np.int64)
    n_missing = int((in_group & ~valid).sum())
    n_ungrouped = int((~in_group).sum())
    base = {"attribute": attr, "n_groups": int(eligible.size), "n": int(use.sum()),
            "n_missing": n_missing, "n_ungrouped": n_ungrouped}
    if eligible.size < 2:
        for j in cols:
            gap_rows.append({**base, "metric": metrics[j], "gap": np.nan, "gap_ci_low": np.nan,
                             "gap_ci_high": np.nan, "ratio": np.nan, "p_value": np.nan,
                             "max_group": None, "min_group": None})
        return
    em = means[eligible]  # (E, m)
    imax, imin = em.argmax(axis=0), em.argmin(axis=0)
    pool = np.isin(c, eligible)
    recode = np.full(G, -1, dtype=np.int64)
    recode[eligible] = np.arange(eligible.size)
    _, p_values = permutation_gap_test(v[pool], recode[c[pool]], int(eligible.size), n_permutations,
                                       rng_for(seed, "permutation", attr))
    for jj, j in enumerate(cols):
        gmax, gmin = int(eligible[imax[jj]]), int(eligible[imin[jj]])
        hi_m, lo_m = means[gmax, jj], means[gmin, jj]
        diff = boots[gmax][:, jj] - boots[gmin][:, jj]
        d_lo, d_hi = percentile_ci(diff, confidence)
        gap_rows.append({
            **base, "metric": metrics[j], "gap": hi_m - lo_m, "gap_ci_low": float(d_lo), "gap_ci_high": float(d_hi),
            "ratio": lo_m / hi_m if hi_m > 0 else np.nan, "p_value": float(p_values[jj]),
            "max_group": grouping.labels[gmax], "min_group": grouping.labels[gmin],
        })
