"""Beyond-accuracy metrics against hand-computed values (fixture in conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers.metrics import make_dataset, make_recs

from recfair.errors import RecfairError
from recfair.metrics import (
    aclt,
    aplt,
    arp,
    catalog_coverage,
    exposure_gini,
    genre_matrix,
    gini,
    intra_list_diversity,
    item_exposure,
    miscalibration,
    novelty,
    popularity_calibration,
    popularity_tiers,
    short_head,
)
from recfair.metrics.beyond import EMPTY_TRAIN, NO_GENRES, js_divergence

NAN = np.nan


def close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- popularity tiers
def test_short_head_and_tiers(beyond_case):
    _, train = beyond_case
    np.testing.assert_array_equal(train.item_popularity, [4, 3, 2, 1, 0, 0])
    # cumulative shares 0.4, 0.7, 0.9, 1.0 → 80% reached at item 2
    np.testing.assert_array_equal(short_head(train), [True, True, True, False, False, False])
    # head: 20% reached at item 0; head ∪ mid: 80% reached at item 2
    np.testing.assert_array_equal(popularity_tiers(train), ["head", "mid", "mid", "tail", "tail", "tail"])
    np.testing.assert_array_equal(popularity_tiers(train, 0.8, 0.2), ["head"] * 3 + ["tail"] * 3)


def test_ties_at_a_boundary_are_never_split():
    # pop 3, 3, 2, 2: shares 0.3, 0.6, 0.8, 1.0
    pairs = [(u, 0) for u in range(3)] + [(u, 1) for u in range(3)] + [(u, 2) for u in range(2)]
    pairs += [(u, 3) for u in range(2)]
    train = make_dataset(pairs, n_users=3, n_items=4)
    # 20% is reached by item 0, and item 1 has the same popularity → both head
    np.testing.assert_array_equal(popularity_tiers(train, 0.2, 0.2), ["head", "head", "mid", "mid"])
    # exactly 80% at item 2, tied with item 3 → everything is head, the tail is empty
    assert short_head(train).all()
    # the result depends on popularity only: permuting item ids permutes the labels
    perm = [3, 2, 1, 0]
    rev = make_dataset([(u, perm[i]) for u, i in pairs], n_users=3, n_items=4)
    np.testing.assert_array_equal(popularity_tiers(rev, 0.2, 0.2), popularity_tiers(train, 0.2, 0.2)[perm])


def test_tier_errors():
    empty = make_dataset([], n_users=2, n_items=3)
    with pytest.raises(RecfairError) as e:
        short_head(empty)
    assert str(e.value) == EMPTY_TRAIN.format(metric="short_head")
    train = make_dataset([(0, 0)], n_users=1, n_items=2)
    with pytest.raises(RecfairError, match="head_share \\+ tail_share must be at most 1"):
        popularity_tiers(train, 0.7, 0.5)


# ------------------------------------------------------------------ global metrics
def test_coverage_exposure_gini():
    recs = make_recs([0, 1], [[0, 1], [0, 2]])
    assert catalog_coverage(recs, 5, 2) == pytest.approx(3 / 5)
    assert catalog_coverage(recs, 5, 1) == pytest.approx(1 / 5)
    w2 = 1 / np.log2(3)
    close(item_exposure(recs, 5, 2), [2, w2, w2, 0, 0])
    # Gini by the mean-absolute-difference definition, independent of the code's sorted formula
    x = np.array([2, w2, w2, 0, 0])
    expected = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert exposure_gini(recs, 5, 2) == pytest.approx(expected, abs=1e-12)


def test_gini_extremes():
    assert gini(np.full(7, 3.0)) == pytest.approx(0.0, abs=1e-15)
    one = np.zeros(10)
    one[4] = 2.5
    assert gini(one) == pytest.approx(9 / 10, abs=1e-15)
    assert np.isnan(gini(np.zeros(4)))


def test_exposure_ignores_padding_and_repeats():
    recs = make_recs([0], [[3, 3, -1, 1]])
    close(item_exposure(recs, 4, 4), [0, 1 / np.log2(5), 0, 1])


# ---------------------------------------------------------------- per-user metrics
def test_arp_aplt_aclt(beyond_case):
    recs, train = beyond_case
    close(arp(recs, train, 3), [1 / 3, 3.5, 5 / 3, NAN])
    # tail = {3, 4, 5}; APLT divides by k even for short lists, an empty list gives 0
    close(aplt(recs, train, 3), [1, 0, 2 / 3, 0])
    close(aclt(recs, train, 3), [3, 0, 2, 0])
    close(arp(recs, train, 1), [0, 4, 1, NAN])


def test_novelty(beyond_case):
    recs, train = beyond_case
    # |U| = 4; pop 0 clipped to 1 → −log2(1/4) = 2
    info = {0: 0.0, 1: -np.log2(3 / 4), 2: 1.0, 3: 2.0, 4: 2.0, 5: 2.0}
    close(novelty(recs, train, 3), [2.0, (info[0] + info[1]) / 2, 4 / 3, NAN])


def test_intra_list_diversity(beyond_case):
    recs, train = beyond_case
    # u0: item 4 has no genre → one pair (A, C) → 1; u1: (A, B) → 1;
    # u2: pairs (C,A)=0, (C,A)=0, (A,A)=1 cos → 1 − 1/3
    close(intra_list_diversity(recs, train, 3), [1, 1, 2 / 3, NAN])


def test_intra_list_diversity_given_vectors():
    ds = make_dataset([], n_users=1, n_items=3)
    vectors = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    recs = make_recs([0], [[0, 1, 2]])
    c = 1 / np.sqrt(2)
    close(intra_list_diversity(recs, ds, 3, item_vectors=vectors), [((1 - c) + 1 + (1 - c)) / 3])
    close(intra_list_diversity(recs, ds, 1, item_vectors=vectors), [NAN])


def test_miscalibration(beyond_case):
    recs, train = beyond_case
    # u0: p = A .375, B .375, C .25 (item 2 spreads 1/2 to A and B); q = A .5, C .5
    mix = {"A": 0.99 * 0.5 + 0.01 * 0.375, "B": 0.01 * 0.375, "C": 0.99 * 0.5 + 0.01 * 0.25}
    u0 = 0.375 * np.log(0.375 / mix["A"]) + 0.375 * np.log(0.375 / mix["B"]) + 0.25 * np.log(0.25 / mix["C"])
    # u1: p = q = (A .5, B .5) → 0; u2: p = (A .5, B .5), q = (A 2/3, C 1/3)
    mix2 = {"A": 0.99 * 2 / 3 + 0.005, "B": 0.005}
    u2 = 0.5 * np.log(0.5 / mix2["A"]) + 0.5 * np.log(0.5 / mix2["B"])
    close(miscalibration(recs, train, 3), [u0, 0.0, u2, NAN])
    # alpha = 0 gives plain KL, infinite when the list misses a genre of the profile
    assert np.isinf(miscalibration(recs, train, 3, alpha=0.0)[0])


def test_popularity_calibration(beyond_case):
    recs, train = beyond_case
    # tiers: head {0}, mid {1, 2}, tail {3, 4, 5}
    def js(p, q):
        p, q = np.asarray(p, float), np.asarray(q, float)
        m = (p + q) / 2
        kl = lambda a: sum(x * np.log2(x / y) for x, y in zip(a, m) if x > 0)  # noqa: E731
        return 0.5 * kl(p) + 0.5 * kl(q)

    expected = [
        js([1 / 4, 2 / 4, 1 / 4], [0, 0, 1]),
        js([1 / 3, 2 / 3, 0], [1 / 2, 1 / 2, 0]),
        js([1 / 2, 1 / 2, 0], [1 / 3, 0, 2 / 3]),
        NAN,
    ]
    close(popularity_calibration(recs, train, 3), expected)
    # disjoint supports → the maximum, 1 bit
    close(js_divergence(np.array([[1.0, 0, 0]]), np.array([[0, 0, 1.0]])), [1.0])


def test_genre_matrix_and_errors(beyond_case):
    _, train = beyond_case
    m, names = genre_matrix(train)
    assert names == ["A", "B", "C"]
    close(m, [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
    no_genres = make_dataset([(0, 0)], n_users=1, n_items=2)
    with pytest.raises(RecfairError) as e:
        miscalibration(make_recs([0], [[1]]), no_genres, 1)
    assert str(e.value) == NO_GENRES.format(metric="miscalibration")
