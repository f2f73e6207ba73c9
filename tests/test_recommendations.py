import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.models.base import top_k
from recfair.recommendations import PAD, Recommendations


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
