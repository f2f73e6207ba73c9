"""k-core and rating-threshold filters keep the index space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair.data import Dataset, k_core, make_synthetic, to_implicit
from recfair.data import filters as F
from recfair.errors import DataError, RecfairError


def test_k_core_iterates_until_stable():
    # 2-core: item z has one user → removed; then user c has one item left → removed;
    # then item y (users a, c) has one user → removed; then user a keeps x only → removed ...
    rows = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "w"), ("c", "y"), ("c", "z"), ("d", "x"), ("d", "w")]
    ds = Dataset.from_frame(pd.DataFrame(rows, columns=["user", "item"]))
    core = k_core(ds, 2, 2)
    kept = set(zip(core.user_ids[core.user], core.item_ids[core.item]))
    assert kept == {("b", "x"), ("b", "w"), ("d", "x"), ("d", "w")}
    assert core.n_users == ds.n_users and core.n_items == ds.n_items  # index space kept
    assert core.user_ids is ds.user_ids
    assert core.user_counts.tolist() == [0, 2, 0, 2]


def test_k_core_property_on_synthetic():
    ds = make_synthetic(300, 200, 3000, seed=0)
    core = k_core(ds, 5, 10)
    uc, ic = core.user_counts, core.item_counts
    assert (uc[uc > 0] >= 5).all() and (ic[ic > 0] >= 10).all()
    assert 0 < core.n_interactions < ds.n_interactions
    assert k_core(ds, 0, 0).n_interactions == ds.n_interactions
    again = k_core(core, 5, 10)  # idempotent
    assert np.array_equal(again.user, core.user) and np.array_equal(again.item, core.item)


def test_to_implicit():
    df = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"], "rating": [5.0, 3.0, 4.0],
                       "timestamp": [1, 2, 3]})
    ds = Dataset.from_frame(df)
    imp = to_implicit(ds)
    assert imp.rating is None and imp.timestamp.tolist() == [1, 3]
    assert imp.n_users == 2 and imp.n_items == 2 and imp.item.tolist() == [0, 0]
    kept = to_implicit(ds, threshold=3.5, keep_rating=True)
    assert kept.rating.tolist() == [5.0, 4.0]
    with pytest.raises(DataError) as e:
        to_implicit(imp)
    assert str(e.value) == F.NO_RATINGS.format(name=imp.name)
    with pytest.raises(RecfairError, match="The 'threshold' parameter of to_implicit must be a finite number"):
        to_implicit(ds, threshold=float("nan"))
    with pytest.raises(RecfairError, match="The 'user_k' parameter of k_core must be a non-negative int"):
        k_core(ds, -1, 2)
