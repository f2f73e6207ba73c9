"""Ranking metrics against hand-computed values (fixture in conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.metrics import hit_matrix, hit_rate, map_at_k, mrr, ndcg, precision, recall
from recfair.metrics.ranking import BAD_ITEMS, BAD_USERS

from tests.helpers.metrics import make_dataset, make_recs

L2, L3, L4, L5, L6 = (np.log2(x) for x in (2, 3, 4, 5, 6))
NAN = np.nan


def test_hit_matrix(ranking_case):
    recs, test = ranking_case
    expected = np.array(
        [[1, 0, 1, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool
    )
    np.testing.assert_array_equal(hit_matrix(recs, test, 5), expected)


@pytest.mark.parametrize(
    "fn, k, expected",
    [
        (precision, 5, [3 / 5, 1 / 5, NAN, 0]),
        (precision, 3, [2 / 3, 1 / 3, NAN, 0]),
        (precision, 10, [3 / 10, 1 / 10, NAN, 0]),  # k beyond the list: missing positions are misses
        (recall, 5, [1, 1, NAN, 0]),
        (recall, 3, [2 / 3, 1, NAN, 0]),
        (hit_rate, 5, [1, 1, NAN, 0]),
        (hit_rate, 1, [1, 1, NAN, 0]),
        (mrr, 5, [1, 1, NAN, 0]),
        (
            ndcg,
            5,
            [(1 / L2 + 1 / L4 + 1 / L6) / (1 / L2 + 1 / L3 + 1 / L4), 1, NAN, 0],
        ),
        (ndcg, 3, [(1 / L2 + 1 / L4) / (1 / L2 + 1 / L3 + 1 / L4), 1, NAN, 0]),
        (ndcg, 10, [(1 / L2 + 1 / L4 + 1 / L6) / (1 / L2 + 1 / L3 + 1 / L4), 1, NAN, 0]),
        (map_at_k, 5, [(1 + 2 / 3 + 3 / 5) / 3, 1, NAN, 0]),
        (map_at_k, 3, [(1 + 2 / 3) / 3, 1, NAN, 0]),
        # min(k, |T_u|) in the MAP denominator: k=1 → divide by 1, not by |T_0| = 3
        (map_at_k, 1, [1, 1, NAN, 0]),
    ],
)
def test_hand_computed(ranking_case, fn, k, expected):
    recs, test = ranking_case
    got = fn(recs, test, k)
    assert got.dtype == np.float64 and got.shape == (4,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_mrr_later_hit_and_ndcg_ideal_truncated():
    # T = {7, 8, 9, 6}; list hits at ranks 2 and 3 only
    test = make_dataset([(0, 6), (0, 7), (0, 8), (0, 9)], n_users=1, n_items=10)
    recs = make_recs([0], [[0, 7, 8]])
    assert mrr(recs, test, 3)[0] == pytest.approx(1 / 2, abs=1e-15)
    # ideal over min(k=3, |T|=4) = 3 positions
    assert ndcg(recs, test, 3)[0] == pytest.approx((1 / L3 + 1 / L4) / (1 / L2 + 1 / L3 + 1 / L4), abs=1e-15)
    assert map_at_k(recs, test, 3)[0] == pytest.approx((1 / 2 + 2 / 3) / 3, abs=1e-15)


def test_score_ties_do_not_matter(ranking_case):
    recs, test = ranking_case
    from recfair import Recommendations

    tied = Recommendations(recs.users, recs.items, np.where(recs.valid, 1.0, np.nan))
    for fn in (precision, recall, hit_rate, ndcg, mrr, map_at_k):
        np.testing.assert_array_equal(fn(tied, test, 5), fn(recs, test, 5))


def test_repeated_item_counts_once():
    test = make_dataset([(0, 1)], n_users=1, n_items=5)
    recs = make_recs([0], [[1, 1, 1]])
    assert precision(recs, test, 3)[0] == pytest.approx(1 / 3)
    assert map_at_k(recs, test, 3)[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(hit_matrix(recs, test, 3), [[True, False, False]])


def test_empty_recommendations():
    test = make_dataset([(0, 1)], n_users=2, n_items=5)
    recs = make_recs([], [], k=10)
    for fn in (precision, recall, hit_rate, ndcg, mrr, map_at_k):
        out = fn(recs, test, 10)
        assert out.shape == (0,) and out.dtype == np.float64


def test_empty_test_set_gives_nan():
    test = make_dataset([], n_users=2, n_items=5)
    recs = make_recs([0, 1], [[0, 1], [2]])
    for fn in (precision, recall, hit_rate, ndcg, mrr, map_at_k):
        assert np.isnan(fn(recs, test, 2)).all()


def test_errors_name_the_bad_value():
    test = make_dataset([(0, 1)], n_users=2, n_items=5)
    with pytest.raises(RecfairError) as e:
        ndcg(make_recs([5], [[0]]), test, 1)
    assert str(e.value) == BAD_USERS.format(value=5, n=2, last=1)
    with pytest.raises(RecfairError) as e:
        ndcg(make_recs([0], [[7]]), test, 1)
    assert str(e.value) == BAD_ITEMS.format(value=7, n=5, last=4)
    with pytest.raises(RecfairError, match="The 'k' parameter of metrics must be a positive int"):
        ndcg(make_recs([0], [[1]]), test, 0)
