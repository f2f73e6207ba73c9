"""Random, Popularity and ItemKNN against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recfair.errors import BAD_PARAM, RecfairError
from recfair.models.classic.baselines import PopularityRecommender, RandomRecommender
from recfair.models.classic.itemknn import ItemKNNRecommender

from classic_fixtures import make_dataset

# u0 {0,1} · u1 {0,1,2} · u2 {1,2} · u3 {0}; item users: i0 {u0,u1,u3}, i1 {u0,u1,u2}, i2 {u1,u2}
TINY = dict(user=[0, 0, 1, 1, 1, 2, 2, 3], item=[0, 1, 0, 1, 2, 1, 2, 0])


@pytest.fixture
def tiny():
    return make_dataset(**TINY, n_users=5, n_items=4)  # user 4 and item 3: no interactions


def _cos(shrink):
    """Hand-computed: co-occurrences 0–1: 2, 0–2: 1, 1–2: 2; popularities 3, 3, 2."""
    return np.array(
        [
            [0, 2 / (3 + shrink), 1 / (np.sqrt(6) + shrink), 0],
            [2 / (3 + shrink), 0, 2 / (np.sqrt(6) + shrink), 0],
            [1 / (np.sqrt(6) + shrink), 2 / (np.sqrt(6) + shrink), 0, 0],
            [0, 0, 0, 0],
        ]
    )


@pytest.mark.parametrize("shrink", [0.0, 2.5])
def test_itemknn_similarity_is_shrunk_cosine(tiny, shrink):
    model = ItemKNNRecommender(neighbors=10, shrink=shrink).fit(tiny)
    np.testing.assert_allclose(model.similarity_.toarray(), _cos(shrink), rtol=1e-6)


def test_itemknn_keeps_top_neighbours_per_item(tiny):
    model = ItemKNNRecommender(neighbors=1).fit(tiny)
    expected = np.zeros((4, 4))
    expected[0, 1] = 2 / 3  # item 0's nearest: item 1 (2/3 > 1/√6)
    expected[1, 2] = 2 / np.sqrt(6)  # item 1's nearest: item 2 (2/√6 > 2/3)
    expected[2, 1] = 2 / np.sqrt(6)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-6)
    assert isinstance(model.similarity_, sp.csr_matrix)


def test_itemknn_score_sums_similarities_of_the_users_items(tiny):
    model = ItemKNNRecommender(neighbors=10).fit(tiny)
    s = _cos(0.0)
    np.testing.assert_allclose(model.score([3, 2]), np.vstack([s[0], s[1] + s[2]]), rtol=1e-6)
    recs = model.recommend([3], k=3)
    assert recs.items.tolist() == [[1, 2, 3]]  # 2/3 > 1/√6 > 0 (item 3: no similarity, still finite)


def test_itemknn_ties_keep_the_lower_item_and_min_similarity_drops(tiny):
    # items 1 and 2 are equally similar to item 3 (each co-occurs once, same popularity)
    data = make_dataset([0, 0, 1, 1, 2, 2], [3, 1, 3, 2, 1, 2], n_users=3, n_items=4)
    sim = ItemKNNRecommender(neighbors=1).fit(data).similarity_.toarray()
    assert sim[3, 1] > 0 and sim[3, 2] == 0
    # on the tiny data, 1/√6 ≈ 0.41 is dropped at min_similarity 0.5; 2/3 and 2/√6 stay
    kept = ItemKNNRecommender(neighbors=10, min_similarity=0.5).fit(tiny).similarity_.toarray()
    expected = _cos(0.0)
    expected[expected <= 0.5] = 0
    np.testing.assert_allclose(kept, expected, rtol=1e-6)


def test_itemknn_sample_weight_changes_similarities(tiny):
    w = np.ones(len(TINY["user"]))
    w[0] = 3.0  # u0's interaction with item 0 counts more
    a = ItemKNNRecommender(neighbors=10).fit(tiny).similarity_.toarray()
    b = ItemKNNRecommender(neighbors=10).fit(tiny, sample_weight=w).similarity_.toarray()
    # co-occurrence(0, 1) = 3·1 + 1·1 = 4; ‖x_0‖ = √(9 + 1 + 1), ‖x_1‖ = √3
    assert b[0, 1] == pytest.approx(4 / np.sqrt(11 * 3), rel=1e-6) and not np.allclose(a, b)


def test_itemknn_bad_parameters(tiny):
    with pytest.raises(RecfairError) as exc:
        ItemKNNRecommender(neighbors=0).fit(tiny)
    assert str(exc.value) == BAD_PARAM.format(
        param="neighbors", owner="ItemKNNRecommender", expected="a positive int", value=0
    )
    with pytest.raises(RecfairError, match="'shrink' parameter"):
        ItemKNNRecommender(shrink=-1).fit(tiny)


def test_itemknn_blocks_give_the_same_matrix(tiny, monkeypatch):
    import recfair.models.classic.itemknn as knn

    whole = ItemKNNRecommender(neighbors=2).fit(tiny).similarity_.toarray()
    monkeypatch.setattr(knn, "SCORE_BATCH_CELLS", 4)  # one item per block
    blocked = ItemKNNRecommender(neighbors=2).fit(tiny).similarity_.toarray()
    np.testing.assert_array_equal(whole, blocked)


# ---------------------------------------------------------------- popularity
def test_popularity_counts_distinct_training_users(tiny):
    dup = make_dataset(TINY["user"] + [0], TINY["item"] + [0], n_users=5, n_items=4)  # u0–i0 twice
    model = PopularityRecommender().fit(dup)
    np.testing.assert_array_equal(model.score([0])[0], [3, 3, 2, 0])
    assert model.recommend([4], k=2).items.tolist() == [[0, 1]]  # cold user, tie → lower index


def test_popularity_weighted(tiny):
    w = np.array([2.0, 1, 1, 1, 1, 1, 1, 0.5])
    model = PopularityRecommender().fit(tiny, sample_weight=w)
    np.testing.assert_allclose(model.score([0])[0], [2 + 1 + 0.5, 3, 2, 0])


# -------------------------------------------------------------------- random
def test_random_scores_are_uniform_and_seeded(tiny):
    a = RandomRecommender(seed=1).fit(tiny)
    b = RandomRecommender(seed=2).fit(tiny)
    s = a.score(np.arange(4))
    assert s.min() >= 0 and s.max() < 1
    assert not np.array_equal(s, b.score(np.arange(4)))
    big = make_dataset(np.arange(500) % 50, np.arange(500) % 400, n_users=50, n_items=400)
    many = RandomRecommender(seed=0).fit(big).score(np.arange(50))
    assert abs(many.mean() - 0.5) < 0.01 and abs(many.std() - np.sqrt(1 / 12)) < 0.01
    # rows and columns are not copies of each other
    assert len(np.unique(many[:, 0])) == 50 and len(np.unique(many[0])) > 390
