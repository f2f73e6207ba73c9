"""Tiny hand-made data for the fairness tests (answers computed by hand in the tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.data.dataset import Dataset
from recfair.recommendations import PAD, Recommendations


def make_recs(users, lists, k):
    items = np.full((len(users), k), PAD, dtype=np.int32)
    scores = np.full((len(users), k), np.nan, dtype=np.float32)
    for r, lst in enumerate(lists):
        items[r, : len(lst)] = lst
        scores[r, : len(lst)] = np.arange(len(lst), 0, -1)
    return Recommendations(np.asarray(users, dtype=np.int32), items, scores)


def tiny_parts():
    """4 users, 6 items.

    Users: u0 F 17 · u1 M 18 · u2 F 56 · u3 M (age unknown).
    Items (genres; year): i0 Action 1965 · i1 Action|Comedy 1975 · i2 Comedy 1985 ·
    i3 none 1995 · i4 Drama (year unknown) · i5 Action|Drama 1999.
    Train: u0 {i0,i1} · u1 {i0,i1} · u2 {i0,i2} · u3 {i0}
      → pop i0 4, i1 2, i2 1, others 0; Σ = 7; short head (80%) = {i0, i1} (4/7 < .8 ≤ 6/7).
    Test: u0 {i2,i3} · u1 {i4} · u2 {i1} · u3 {} (no test items).
    Lists (k=3): u0 [i2,i3,i5] · u1 [i2,i5] (shorter than k) · u2 [i1,i3,i4] · u3 [i1,i2,i3].
    """
    train_pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 2), (3, 0)]
    test_pairs = [(0, 2), (0, 3), (1, 4), (2, 1)]
    pairs = train_pairs + test_pairs
    inter = pd.DataFrame({
        "user": [f"u{u}" for u, _ in pairs], "item": [f"i{i}" for _, i in pairs],
        "rating": [4.0, 3.0, 5.0, 2.0, 4.0, 1.0, 3.0, 5.0, 4.0, 2.0, 3.0],
        "timestamp": np.arange(len(pairs)),
    })
    users = pd.DataFrame({"user": ["u0", "u1", "u2", "u3"], "gender": ["F", "M", "F", "M"],
                          "age": [17.0, 18.0, 56.0, np.nan]})
    items = pd.DataFrame({
        "item": [f"i{i}" for i in range(6)],
        "genres": [("Action",), ("Action", "Comedy"), ("Comedy",), (), ("Drama",), ("Action", "Drama")],
        "year": [1965.0, 1975.0, 1985.0, 1995.0, np.nan, 1999.0],
    })
    full = Dataset.from_frame(inter, users=users, items=items, name="tiny")
    is_train = np.arange(len(pairs)) < len(train_pairs)
    train = full.subset(is_train, name="tiny-train")
    test = full.subset(~is_train, name="tiny-test")
    recs = make_recs([0, 1, 2, 3], [[2, 3, 5], [2, 5], [1, 3, 4], [1, 2, 3]], k=3)
    return full, train, test, recs
