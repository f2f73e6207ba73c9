"""Filters over a :class:`~recfair.data.dataset.Dataset`: k-core and rating threshold.

Both keep the index space: no user or item is renumbered, so the result can
be compared with (and split alongside) the input.  Users and items that lose
all their interactions keep their index and attribute row, with a count of 0
(:attr:`Dataset.active_users` lists the ones that remain).
"""

from __future__ import annotations

import logging

import numpy as np

from recfair.data.dataset import Dataset
from recfair.errors import BAD_PARAM, DataError, RecfairError

log = logging.getLogger(__name__)

NO_RATINGS = "data set {name!r} has no ratings; to_implicit needs explicit ratings (it is already implicit)"


def _check_count(value, param: str, owner: str) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise RecfairError(BAD_PARAM.format(param=param, owner=owner, expected="a non-negative int", value=value))
    return int(value)


def k_core(ds: Dataset, user_k: int = 5, item_k: int = 5) -> Dataset:
    """Keep the largest sub-dataset where every user has ≥ ``user_k`` and every item ≥ ``item_k`` interactions.

    Users and items below the thresholds are removed repeatedly until nothing
    changes (removing an item can push a user below ``user_k`` and so on).
    ``0`` or ``1`` disables a side.  The index space is kept (see module doc).

    Examples
    --------
    >>> from recfair.data.synthetic import make_synthetic
    >>> core = k_core(make_synthetic(100, 80, 1500, seed=0), user_k=10, item_k=10)
    >>> bool((core.user_counts[core.user_counts > 0] >= 10).all())
    True
    """
    user_k = _check_count(user_k, "user_k", "k_core")
    item_k = _check_count(item_k, "item_k", "k_core")
    keep = np.ones(ds.n_interactions, dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        u_cnt = np.bincount(ds.user[keep], minlength=ds.n_users)
        i_cnt = np.bincount(ds.item[keep], minlength=ds.n_items)
        new = keep & (u_cnt[ds.user] >= user_k) & (i_cnt[ds.item] >= item_k)
        if new.sum() == keep.sum():
            break
        keep = new
    log.info("k_core(%d, %d) of %s: kept %d of %d interactions after %d rounds",
             user_k, item_k, ds.name, int(keep.sum()), ds.n_interactions, rounds)
    return ds.subset(keep, name=f"{ds.name}/core{user_k}-{item_k}")


def to_implicit(ds: Dataset, threshold: float = 4.0, *, keep_rating: bool = False) -> Dataset:
    """Keep interactions with ``rating >= threshold`` as implicit positives.

    Parameters
    ----------
    threshold:
        Minimum rating of a positive (METRICS.md's default 4 on 1–5 scales).
    keep_rating:
        Keep the ratings of the kept interactions; by default ``rating`` becomes ``None``.

    The index space is kept (see module doc).
    """
    if ds.rating is None:
        raise DataError(NO_RATINGS.format(name=ds.name))
    ok = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool) and np.isfinite(threshold)
    if not ok:
        raise RecfairError(BAD_PARAM.format(param="threshold", owner="to_implicit", expected="a finite number",
                                            value=threshold))
    mask = ds.rating >= threshold
    sub = ds.subset(mask, name=f"{ds.name}/implicit{threshold:g}")
    if keep_rating:
        return sub
    return sub.with_interactions(sub.user, sub.item, None, sub.timestamp)
