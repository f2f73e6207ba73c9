"""Builders for tiny hand-made metric fixtures (indices equal the given ints)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair import Dataset, Recommendations


def make_dataset(pairs, n_users, n_items, genres=None, ratings=None) -> Dataset:
    """A Dataset whose indices equal the given ints (attribute tables fix the index order)."""
    users = pd.DataFrame({"user": [str(u) for u in range(n_users)]})
    items = pd.DataFrame({"item": [str(i) for i in range(n_items)]})
    if genres is not None:
        items["genres"] = [tuple(g) for g in genres]
    df = pd.DataFrame({"user": [str(u) for u, _ in pairs], "item": [str(i) for _, i in pairs]})
    if ratings is not None:
        df["rating"] = ratings
    ds = Dataset.from_frame(df, users=users, items=items)
    assert list(ds.user_ids) == [str(u) for u in range(n_users)]
    assert list(ds.item_ids) == [str(i) for i in range(n_items)]
    return ds


def make_recs(users, lists, k=None) -> Recommendations:
    """Recommendations from python lists (shorter lists padded with -1)."""
    k = k or max((len(x) for x in lists), default=0)
    items = np.full((len(users), k), -1, dtype=np.int32)
    for r, lst in enumerate(lists):
        items[r, : len(lst)] = lst
    scores = np.where(items >= 0, -np.arange(k, dtype=np.float32)[None, :], np.nan)
    return Recommendations(np.asarray(users, dtype=np.int32), items, scores)
