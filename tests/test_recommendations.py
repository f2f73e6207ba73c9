import numpy as np
import pytest
import scipy.sparse as sp

from recfair.errors import RecfairError
from recfair.recommendations import PAD, Recommendations, rank_scores, top_k


def test_top_k_orders_breaks_ties_by_item_and_pads():
    s = np.array([[0.1, 0.5, 0.5, -np.inf], [-np.inf, -np.inf, 2.0, -np.inf]], dtype=np.float32)
    items, scores = top_k(s, 3)
    np.testing.assert_array_equal(items, [[1, 2, 0], [2, PAD, PAD]])
    assert np.isnan(scores[1, 1]) and scores[0, 0] == pytest.approx(0.5)


def test_top_k_matches_full_sort_on_random_data():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(50, 300)).astype(np.float32)
    items, _ = top_k(s, 20)
    expected = np.argsort(-s, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(items, expected)


def test_frame_round_trip(tmp_path):
    recs = Recommendations(np.array([3, 1]), np.array([[5, 2, PAD], [0, 1, 2]]), np.array([[0.9, 0.1, np.nan], [3, 2, 1]]))
    recs.save(tmp_path / "r.parquet")
    back = Recommendations.load(tmp_path / "r.parquet", k=3)
    order = np.argsort(recs.users)
    np.testing.assert_array_equal(back.users, recs.users[order])
    np.testing.assert_array_equal(back.items, recs.items[order])
    np.testing.assert_allclose(back.scores, recs.scores[order], equal_nan=True)
    assert recs.truncate(2).k == 2
    np.testing.assert_array_equal(recs.select([1]).items, [[0, 1, 2]])
    with pytest.raises(RecfairError, match="has no recommendations"):
        recs.select([7])


def test_shape_mismatch_is_rejected():
    with pytest.raises(RecfairError, match="Recommendations need"):
        Recommendations(np.array([0]), np.zeros((2, 3)), np.zeros((2, 3)))


def test_rank_scores_masks_seen_items_disallowed_items_and_non_finite_scores():
    scores = np.array([[0.9, 0.8, np.nan, 0.7, 0.1], [0.1, 0.2, 0.3, np.inf, 0.5]], np.float32)
    kept = scores.copy()
    allowed = np.array([True, True, True, True, False])
    for seen in (sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]])), [np.array([0]), np.array([], int)]):
        recs = rank_scores([4, 9], scores, 3, seen=seen, allowed=allowed)
        assert recs.users.tolist() == [4, 9]
        assert recs.items.tolist() == [[1, 3, PAD], [2, 1, 0]]
        assert np.isnan(recs.scores[0, 2]) and recs.scores[1, 0] == pytest.approx(0.3)
    np.testing.assert_array_equal(scores, kept)  # the caller's array is left alone


def test_rank_scores_agrees_with_a_full_stable_sort():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, size=(30, 40)).astype(np.float32)  # many ties
    recs = rank_scores(np.arange(30), s, 10)
    np.testing.assert_array_equal(recs.items, np.argsort(-s, axis=1, kind="stable")[:, :10])
