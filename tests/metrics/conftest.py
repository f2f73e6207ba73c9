"""Tiny hand-made fixtures for the metric tests (answers computed by hand in the tests)."""

from __future__ import annotations

import pytest
from tests.helpers.metrics import make_dataset, make_recs


@pytest.fixture
def ranking_case():
    """10 items; T_0 = {1,3,5}, T_1 = {2}, T_2 = {}, T_3 = {0,9}.

    Lists (k=5): u0 [1,2,3,4,5] → hits 1,0,1,0,1; u1 [2] (short) → hit at 1;
    u2 [0..4] (no test items); u3 [4..8] → no hits.
    """
    test = make_dataset([(0, 1), (0, 3), (0, 5), (1, 2), (3, 0), (3, 9)], n_users=4, n_items=10)
    recs = make_recs([0, 1, 2, 3], [[1, 2, 3, 4, 5], [2], [0, 1, 2, 3, 4], [4, 5, 6, 7, 8]])
    return recs, test


@pytest.fixture
def beyond_case():
    """6 items, 4 users.  Training popularity: item0 4, item1 3, item2 2, item3 1, item4 0, item5 0.

    Genres: 0 A · 1 B · 2 A,B · 3 C · 4 none · 5 A.
    Lists (k=3): u0 [4,5,3] · u1 [0,1] · u2 [3,5,0] · u3 [] (empty).
    """
    pairs = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (3, 0)]
    genres = [("A",), ("B",), ("A", "B"), ("C",), (), ("A",)]
    train = make_dataset(pairs, n_users=4, n_items=6, genres=genres)
    recs = make_recs([0, 1, 2, 3], [[4, 5, 3], [0, 1], [3, 5, 0], []], k=3)
    return recs, train
