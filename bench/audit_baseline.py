"""The speed baseline of ``recfair audit``: the same numbers, written the plain pandas way.

This is how a researcher would compute the audit without recfair: one Python
loop over users for the per-user metrics, ``groupby`` for group means, one
resample / one permutation at a time for the bootstrap CIs and p-values, and
``merge`` + ``groupby`` for the item side and rating unfairness.  Only the
definitions are shared with recfair (docs/metrics.md, docs/fairness.md), not
the code: nothing here imports recfair's metric or fairness functions.

To give *identical* numbers, the random draws follow recfair's documented
streams: one generator per (attribute, group) for the bootstrap and one per
attribute for the permutations, seeded from the seed and the CRC-32 of the key
strings (:func:`seeded_rng`), started afresh for every metric; a resample is
``rng.integers(0, n, n)`` over the group's users in ascending user order and a
permutation is ``rng.permutation(codes)`` of the pooled users' group codes.

Scope: user groupings ``gender`` (categorical), ``age`` (the METRICS.md bins)
and ``activity`` (top 5% by training interactions); item groupings
``popularity``, ``tiers`` and ``genres``.  The list metrics, the item side and
the rating tables are in :mod:`audit_baseline_lists`.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd

from audit_baseline_lists import item_side, per_user_metrics, rating_side

AGE_EDGES = (1, 18, 25, 35, 45, 50, 56)
AGE_LABELS = ("1-17", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
#: recfair's tie rule: a permuted gap within this relative distance of the observed one counts as extreme.
TIE_RTOL = 1e-9
USER_GROUPINGS = ("gender", "age", "activity")


def seeded_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the CRC-32 of each key (recfair's documented streams)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def interactions(ds) -> pd.DataFrame:
    """A data set's interactions as a DataFrame ``user, item[, rating]``."""
    df = pd.DataFrame({"user": np.asarray(ds.user, dtype=np.int64), "item": np.asarray(ds.item, dtype=np.int64)})
    if ds.rating is not None:
        df["rating"] = np.asarray(ds.rating, dtype=np.float64)
    return df


def user_codes(users: pd.DataFrame, train: pd.DataFrame, attribute: str) -> tuple[list[str], pd.Series]:
    """Group labels and a code per user (``-1`` = no group) for ``gender``, ``age`` or ``activity``."""
    n_users = len(users)
    if attribute == "activity":
        counts = train.groupby("user").size().reindex(range(n_users), fill_value=0)
        n_top = max(1, math.ceil(0.05 * n_users - 1e-9))
        threshold = counts.sort_values(ascending=False).iloc[n_top - 1]
        return ["top5%", "rest"], pd.Series(np.where(counts >= threshold, 0, 1), index=range(n_users))
    col = users[attribute].reset_index(drop=True)
    missing = col.isna() | (col.astype(str) == "")
    if attribute == "age":
        codes = pd.Series(-1, index=range(n_users))
        age = pd.to_numeric(col, errors="coerce")
        for code, lower in enumerate(AGE_EDGES):
            codes[age >= lower] = code
        codes[missing | age.isna()] = -1
        return list(AGE_LABELS), codes
    labels = sorted(col[~missing].astype(str).unique())
    codes = col.astype(str).map({lab: i for i, lab in enumerate(labels)})
    return labels, codes.where(~missing, -1).astype(np.int64)


def _quantiles(values, confidence: float) -> tuple[float, float]:
    a = (1.0 - confidence) / 2.0
    lo, hi = pd.Series(values).quantile([a, 1.0 - a])
    return float(lo), float(hi)


def _bootstrap(values: pd.Series, rng: np.random.Generator, n_bootstrap: int) -> np.ndarray:
    """Mean of each bootstrap resample of ``values``, one resample at a time."""
    n = len(values)
    return np.array([values.iloc[rng.integers(0, n, n)].mean() for _ in range(n_bootstrap)])


def _permutation_p(data: pd.DataFrame, observed: float, rng: np.random.Generator, n_permutations: int) -> float:
    """p-value of the max − min group gap, shuffling the group codes one permutation at a time."""
    codes = data["code"].to_numpy()
    threshold = observed - TIE_RTOL * max(abs(observed), 1.0)
    extreme = 0
    for _ in range(n_permutations):
        means = data["value"].groupby(rng.permutation(codes)).mean()
        extreme += (means.max() - means.min()) >= threshold
    return (1 + extreme) / (1 + n_permutations)


def _one_metric(values: pd.Series, codes: pd.Series, attribute: str, labels: list[str],
                opts: dict) -> tuple[list[dict], dict]:
    """The group rows and the gap row of one attribute × metric."""
    metric = values.name
    frame = pd.DataFrame({"code": codes.to_numpy(), "value": values.to_numpy()}, index=values.index)
    grouped = frame[frame["code"] >= 0]
    data = grouped.dropna(subset=["value"])
    means = data.groupby("code")["value"].mean()
    sizes = data.groupby("code").size()
    missing = grouped[grouped["value"].isna()].groupby("code").size()
    rows, boots = [], {}
    for g, label in enumerate(labels):
        n = int(sizes.get(g, 0))
        lo = hi = float("nan")
        if n >= opts["min_group_size"]:
            rng = seeded_rng(opts["seed"], "bootstrap", attribute, label)
            boots[g] = _bootstrap(data.loc[data["code"] == g, "value"], rng, opts["n_bootstrap"])
            lo, hi = _quantiles(boots[g], opts["confidence"])
        rows.append({"attribute": attribute, "group": label, "metric": metric,
                     "value": float(means.get(g, float("nan"))), "ci_low": lo, "ci_high": hi, "n": n,
                     "n_missing": int(missing.get(g, 0))})
    gap = {"attribute": attribute, "metric": metric, "gap": np.nan, "gap_ci_low": np.nan, "gap_ci_high": np.nan,
           "ratio": np.nan, "p_value": np.nan, "n_groups": len(boots), "max_group": None, "min_group": None,
           "n": len(data), "n_missing": int(grouped["value"].isna().sum()),
           "n_ungrouped": int((frame["code"] < 0).sum())}
    if len(boots) >= 2:
        eligible = means[sorted(boots)]
        top, bottom = int(eligible.idxmax()), int(eligible.idxmin())
        gap_lo, gap_hi = _quantiles(boots[top] - boots[bottom], opts["confidence"])
        rng = seeded_rng(opts["seed"], "permutation", attribute)
        observed = eligible[top] - eligible[bottom]
        pool = data[data["code"].isin(sorted(boots))]
        gap.update(gap=observed, gap_ci_low=gap_lo, gap_ci_high=gap_hi, max_group=labels[top],
                   min_group=labels[bottom], ratio=eligible[bottom] / eligible[top] if eligible[top] > 0 else np.nan,
                   p_value=_permutation_p(pool, observed, rng, opts["n_permutations"]))
    return rows, gap


def user_side(per_user: pd.DataFrame, groupings: dict, opts: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group means with bootstrap CIs and gaps with CIs, ratios and permutation p-values.

    ``groupings`` maps attribute → (labels, codes indexed by user); ``opts`` holds
    ``n_bootstrap, n_permutations, confidence, min_group_size, seed``.
    """
    group_rows, gap_rows = [], []
    for attribute, (labels, codes) in groupings.items():
        user_codes_ = codes.reindex(per_user.index)
        rows = []
        for metric in per_user.columns:
            metric_rows, gap = _one_metric(per_user[metric], user_codes_, attribute, labels, opts)
            rows.extend(metric_rows)
            gap_rows.append(gap)
        # report group-major, metric-minor, like recfair's table
        group_rows.extend(sorted(rows, key=lambda r: labels.index(r["group"])))
    return pd.DataFrame(group_rows), pd.DataFrame(gap_rows)


def baseline_audit(recs, split, predict=None, *, k: int = 10, n_bootstrap: int = 1000, n_permutations: int = 2000,
                   confidence: float = 0.95, min_group_size: int = 2, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Every table of ``recfair audit`` (``gender,age,activity`` × ``popularity,tiers,genres``).

    ``recs`` gives ``users`` and ``items`` arrays; ``split`` the train and test
    interactions with their user and item tables; ``predict(users, items)``
    (optional) predicted ratings for the rating tables.  Returns a dict of
    DataFrames named like recfair's tables.
    """
    train, test = interactions(split.train), interactions(split.test)
    seen = train if split.history is None else pd.concat([train, interactions(split.history)], ignore_index=True)
    users, items = split.train.users, split.train.items
    lists = {int(u): [int(j) for j in row] for u, row in zip(recs.users, recs.items)}
    per_user = per_user_metrics(lists, train, test, items, k)
    groupings = {a: user_codes(users, train, a) for a in USER_GROUPINGS}
    opts = {"n_bootstrap": n_bootstrap, "n_permutations": n_permutations, "confidence": confidence,
            "min_group_size": max(2, min_group_size), "seed": seed}
    out = dict(zip(("user_groups", "user_gaps"), user_side(per_user, groupings, opts)))
    listed = {u: lists[u] for u in per_user.index if u in lists}
    out.update(item_side(listed, per_user, train, test, seen, items, k))
    if predict is not None and "rating" in test.columns:
        out.update(rating_side(test, predict, groupings))
    return out
