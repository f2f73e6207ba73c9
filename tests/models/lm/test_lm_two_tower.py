"""lm-frozen and lm-hybrid on a small themed catalogue with a tiny random BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recfair.errors import BAD_PARAM, RecfairError
from lm_fixtures import RecordingPenalty
from recfair.models.base import Recommender
from recfair.models.lm.common import BAD_TEXT_USERS
from recfair.models.registry import create_model

FAST = {
    "lm-frozen": {"epochs": 10, "embedding_size": 16, "batch_size": 64, "learning_rate": 0.01},
    "lm-hybrid": {"epochs": 6, "embedding_size": 16, "batch_size": 64},
}


def make(name, tiny_bert, **kw):
    return create_model(name, **{**FAST[name], "encoder": tiny_bert, "runtime": {"progress": False}, **kw})


@pytest.fixture(scope="module", params=["lm-frozen", "lm-hybrid"])
def fitted(request, tiny_bert, themes_split):
    return make(request.param, tiny_bert).fit(themes_split.train)


def test_registry_defaults_and_params_round_trip():
    for name in ("lm-frozen", "lm-hybrid", "lm-finetune", "lm-classifier"):
        model = create_model(name)
        params = json.loads(json.dumps(model.get_params()))
        assert params == model.get_params()
        assert create_model(name, **params).get_params() == params
        assert model.supports_cold_users


def test_scores_shape_and_batch_independence(fitted, themes):
    users = np.arange(20)
    s = fitted.score(users)
    assert s.shape == (20, themes.n_items) and s.dtype == np.float32 and np.isfinite(s).all()
    alone = np.vstack([fitted.score([u]) for u in users])
    np.testing.assert_allclose(s, alone, rtol=1e-5, atol=1e-5)


def test_learns_the_planted_tastes(fitted, themes_split, themes):
    """Top-5 lists should mostly hold items of the user's own theme (random ranking: ~50%)."""
    recs = fitted.recommend(np.arange(themes.n_users), k=5)
    own = []
    for u, row in zip(recs.users, recs.items):
        taste = 0 if themes.users.loc[u, "gender"] == "M" else 1
        own.append(np.mean((row >= 20) == bool(taste)))
    assert np.mean(own) > 0.8


def test_save_load_gives_identical_scores(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    back = Recommender.load(tmp_path / "m")
    assert type(back) is type(fitted) and back.get_params() == fitted.get_params()
    np.testing.assert_array_equal(back.score(np.arange(10)), fitted.score(np.arange(10)))
    assert back.user_fields_ == ["age", "gender", "occupation"]


def test_score_texts_matches_score_and_flips_with_the_profile(fitted, themes_split):
    users = np.arange(8)
    texts = fitted.render_user_texts(themes_split.train, users)
    np.testing.assert_allclose(fitted.score_texts(texts, users), fitted.score(users), rtol=1e-4, atol=1e-4)
    neutral = fitted.render_user_texts(themes_split.train, users, fields=())
    assert neutral[0].startswith("User.")
    flipped = fitted.render_user_texts(themes_split.train, users, overrides={"gender": "F"})
    assert all("female" in t for t in flipped)
    with pytest.raises(RecfairError) as err:
        fitted.score_texts(texts, users[:3])
    assert str(err.value) == BAD_TEXT_USERS.format(n=8, m=3)


def test_same_seed_same_model(tiny_bert, themes_split):
    for name in ("lm-frozen", "lm-hybrid"):
        a = make(name, tiny_bert, epochs=2).fit(themes_split.train).score(np.arange(5))
        b = make(name, tiny_bert, epochs=2).fit(themes_split.train).score(np.arange(5))
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["lm-frozen", "lm-hybrid"])
def test_penalty_weight_zero_is_bit_identical_and_nonzero_is_used(name, tiny_bert, themes_split):
    train = themes_split.train
    plain = make(name, tiny_bert, epochs=2).fit(train).score(np.arange(5))
    zero = make(name, tiny_bert, epochs=2).fit(train, penalty=RecordingPenalty(0.0)).score(np.arange(5))
    np.testing.assert_array_equal(plain, zero)
    ones = make(name, tiny_bert, epochs=2).fit(train, sample_weight=np.ones(train.n_interactions)).score(np.arange(5))
    np.testing.assert_array_equal(plain, ones)
    pen = RecordingPenalty(10.0)
    with_pen = make(name, tiny_bert, epochs=2).fit(train, penalty=pen).score(np.arange(5))
    assert pen.bound is train and pen.batches
    b = pen.batches[0]
    assert b.user_embeddings.shape == (len(b.users), 16) and b.losses.shape == b.users.shape
    assert not np.allclose(plain, with_pen)


def test_bad_params_are_clear(tiny_bert, themes_split):
    with pytest.raises(RecfairError) as err:
        make("lm-frozen", tiny_bert, history_sampling="random").fit(themes_split.train)
    assert str(err.value) == BAD_PARAM.format(param="history_sampling", owner="LMFrozenRecommender",
                                              expected="one of prefix, random-cut, mixed, leave-one-out", value="random")


@pytest.mark.parametrize("name", ["lm-frozen", "lm-hybrid"])
def test_early_stopping_keeps_the_best_epoch(name, tiny_bert, themes):
    from recfair.data.split import make_split

    sp = make_split(themes, "user-temporal", test_size=0.2, valid_size=0.2)
    m = make(name, tiny_bert, epochs=6, patience=1).fit(sp.train, sp.valid)
    vals = [r["valid"] for r in m.training_log_]
    assert m.best_epoch_ == int(np.argmax(vals)) + 1
    assert m._valid_ndcg(sp.valid) == pytest.approx(max(vals))


def test_history_ends_by_sampling_mode():
    from recfair.models.lm.history import history_ends

    ranks = np.array([0, 3, 20, 50, 50, 50, 50, 50] * 50)
    np.testing.assert_array_equal(history_ends(ranks, "prefix", np.random.default_rng(0)), ranks)
    cut = history_ends(ranks, "random-cut", np.random.default_rng(0))
    assert ((cut >= 0) & (cut <= ranks)).all() and cut.max() > 10
    capped = history_ends(ranks, "random-cut", np.random.default_rng(0), cut_max=5)
    assert ((capped >= 0) & (capped <= np.minimum(ranks, 5))).all() and capped.max() == 5
    mixed = history_ends(ranks, "mixed", np.random.default_rng(0), cut_max=5)
    is_prefix = mixed == ranks
    assert 0.35 < is_prefix[ranks > 5].mean() < 0.65 and (mixed[~is_prefix] <= 5).all()


def test_cut_max_is_checked(tiny_bert, themes_split):
    with pytest.raises(RecfairError, match="cut_max"):
        make("lm-frozen", tiny_bert, cut_max=0).fit(themes_split.train)
    a = make("lm-frozen", tiny_bert, epochs=2, cut_max=None).fit(themes_split.train).score(np.arange(5))
    b = make("lm-frozen", tiny_bert, epochs=2, cut_max=2).fit(themes_split.train).score(np.arange(5))
    assert not np.allclose(a, b)
