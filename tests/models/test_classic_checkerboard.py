"""Classic models on the checkerboard, whose right answer is known by construction.

(The conformance checks every model passes live in ``test_conformance.py``.)
"""

from __future__ import annotations

import numpy as np

from classic_fixtures import block_of, checkerboard


def _within_block_share(model, data, k=3):
    users = np.arange(40)
    recs = model.fit(data).recommend(users, k=k)
    lo, hi = block_of(users)
    inside = (recs.items >= lo[:, None]) & (recs.items <= hi[:, None])
    return inside.mean()


def test_checkerboard_implicit_models_recommend_within_block():
    data = checkerboard()
    from recfair.models.classic.itemknn import ItemKNNRecommender
    from recfair.models.classic.mf import BPRRecommender

    assert _within_block_share(ItemKNNRecommender(neighbors=10), data) == 1.0
    small = {"embedding_size": 4, "epochs": 30, "batch_size": 64, "learning_rate": 0.05}
    assert _within_block_share(BPRRecommender(**small, n_negatives=1), data) == 1.0
    # Hard negatives are mostly the user's unseen in-block items on this dense toy (false
    # negatives), so a few slots may leak; random would be at 0.5.
    assert _within_block_share(BPRRecommender(**small, n_negatives=4), data) >= 0.95


def test_checkerboard_mf_recommends_within_block():
    from recfair.models.classic.mf import MFRecommender

    data = checkerboard(disliked=4)
    mf = MFRecommender(embedding_size=8, epochs=60, batch_size=64, learning_rate=0.02, reg=0.01, seed=0)
    assert _within_block_share(mf, data) == 1.0
    # and it predicts the ratings it was trained on
    pred = mf.predict(data.user, data.item)
    assert np.sqrt(np.mean((pred - data.rating) ** 2)) < 0.5


def test_random_and_popularity_do_not_see_the_blocks():
    data = checkerboard()
    from recfair.models.classic.baselines import RandomRecommender

    assert _within_block_share(RandomRecommender(seed=0), data, k=10) < 0.8
