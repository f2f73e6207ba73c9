"""Shared fixtures: a small synthetic split and a built-in generative model fitted on it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gen_split():
    from recfair.data import make_synthetic, make_split

    ds = make_synthetic(n_users=120, n_items=60, n_interactions=3000, seed=3)
    return make_split(ds, "user-temporal", test_size=0.2, seed=0)


GEN_PARAMS = dict(embedding_size=32, n_layers=1, n_heads=2, max_len=30, epochs=8, batch_size=32,
                  learning_rate=5e-3, dropout=0.1, seed=0, runtime={"threads": 1})


@pytest.fixture(scope="session")
def gen_params():
    return dict(GEN_PARAMS)


@pytest.fixture(scope="session")
def gen_model(gen_split):
    from recfair.models.generative.builtin import GenerativeRecommender

    return GenerativeRecommender(**GEN_PARAMS).fit(gen_split.train)
