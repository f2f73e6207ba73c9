"""Property tests (hypothesis): bounds, invariance to user order, Gini extremes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers.metrics import make_dataset

from recfair import Recommendations
from recfair.metrics import evaluate, gini

N_ITEMS = 12
GENRES = [("A",), ("B",), ("A", "B"), ("C",), (), ("A", "C")] * 2


@st.composite
def cases(draw):
    n_users = draw(st.integers(1, 8))
    k = draw(st.integers(1, 6))
    width = draw(st.integers(0, 8))
    test_sets = [draw(st.sets(st.integers(0, N_ITEMS - 1), max_size=5)) for _ in range(n_users)]
    train_sets = [draw(st.sets(st.integers(0, N_ITEMS - 1), min_size=1, max_size=6)) for _ in range(n_users)]
    lists = []
    for _ in range(n_users):
        lst = draw(st.lists(st.integers(0, N_ITEMS - 1), max_size=width, unique=True))
        lists.append(lst + [-1] * (width - len(lst)))
    test = make_dataset([(u, i) for u, s in enumerate(test_sets) for i in s], n_users, N_ITEMS, genres=GENRES)
    train = make_dataset([(u, i) for u, s in enumerate(train_sets) for i in s], n_users, N_ITEMS, genres=GENRES)
    items = np.array(lists, dtype=np.int32).reshape(n_users, width)
    recs = Recommendations(np.arange(n_users), items, np.where(items >= 0, 1.0, np.nan))
    perm = draw(st.permutations(range(n_users)))
    return recs, test, train, k, np.array(perm, dtype=np.int64)


BOUNDED = ["precision", "recall", "hit", "ndcg", "mrr", "map", "aplt", "ild", "popcal"]


@settings(max_examples=60, deadline=None)
@given(cases())
def test_bounds_and_user_order(case):
    recs, test, train, k, perm = case
    ev = evaluate(recs, test, train=train, k=k)
    table = ev.per_user
    for name in BOUNDED:
        col = table[f"{name}@{k}"].dropna()
        assert ((col >= -1e-12) & (col <= 1 + 1e-12)).all(), name
    for name in ("miscalibration", "arp", "novelty", "aclt"):
        assert (table[f"{name}@{k}"].dropna() >= -1e-12).all(), name
    assert (table[f"aclt@{k}"] <= k).all()
    # every accuracy value is defined for every evaluated user
    assert not table[[f"ndcg@{k}", f"recall@{k}"]].isna().any().any()
    assert 0 <= ev.overall[f"coverage@{k}"] <= 1
    assert np.isnan(ev.overall[f"gini@{k}"]) or 0 <= ev.overall[f"gini@{k}"] <= 1
    shuffled = Recommendations(recs.users[perm], recs.items[perm], recs.scores[perm])
    ev2 = evaluate(shuffled, test, train=train, k=k)
    pd.testing.assert_frame_equal(ev2.per_user, table)
    np.testing.assert_equal(ev2.overall, ev.overall)


@settings(max_examples=40, deadline=None)
@given(cases(), st.permutations(range(N_ITEMS)))
def test_item_relabelling_changes_nothing_per_user(case, item_perm):
    """Renaming items (with their genres) leaves every per-user value unchanged: tiers never split ties."""
    recs, test, train, k, _ = case
    new = np.array(item_perm)  # old item i becomes new[i]
    genres = [None] * N_ITEMS
    for old, g in enumerate(GENRES):
        genres[new[old]] = g

    def relabel(ds):
        pairs = [(int(u), int(new[i])) for u, i in zip(ds.user, ds.item)]
        return make_dataset(pairs, ds.n_users, N_ITEMS, genres=genres)

    items = np.where(recs.items >= 0, new[np.maximum(recs.items, 0)], -1)
    renamed = Recommendations(recs.users, items, recs.scores)
    a = evaluate(recs, test, train=train, k=k).per_user
    b = evaluate(renamed, relabel(test), train=relabel(train), k=k).per_user
    pd.testing.assert_frame_equal(a, b, rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.floats(0.01, 1e6))
def test_gini_equal_and_concentrated(n, value):
    assert abs(gini(np.full(n, value))) < 1e-9
    x = np.zeros(n)
    x[n // 2] = value
    assert abs(gini(x) - (n - 1) / n) < 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=50))
def test_gini_matches_pairwise_definition(values):
    x = np.array(values)
    if x.sum() <= 0:
        assert np.isnan(gini(x))
        return
    expected = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
    assert abs(gini(x) - expected) < 1e-9
    assert abs(gini(np.random.default_rng(0).permutation(x)) - gini(x)) < 1e-12
