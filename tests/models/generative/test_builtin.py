"""The built-in generative recommender: trains, ranks, generates, saves, flips profiles."""

from __future__ import annotations

import numpy as np
import pytest

from recfair.errors import BAD_PARAM, RecfairError
from recfair.models.generative.builtin import GenerativeRecommender
from recfair.data.profiles import bin_labels
from recfair.models.generative.vocab import UNKNOWN_FIELD, UNKNOWN_VALUE
from recfair.models.registry import create_model


def _ndcg(model, split, k=10):
    from recfair.metrics.ranking import ndcg

    users = np.flatnonzero(split.test.user_counts > 0)
    return float(np.nanmean(ndcg(model.recommend(users, k=k), split.test, k)))


def test_loss_decreases_and_beats_popularity(gen_params, gen_model, gen_split):
    curve = [r["loss"] for r in gen_model.training_log_]
    assert len(curve) == gen_params["epochs"]
    assert curve[-1] < curve[0] - 0.15 and curve[-1] == min(curve)
    pop = create_model("popularity").fit(gen_split.train)
    assert _ndcg(gen_model, gen_split) > _ndcg(pop, gen_split)


def test_recommend_is_a_recommender(gen_model, gen_split):
    recs = gen_model.recommend(np.arange(10), k=5)
    assert recs.items.shape == (10, 5)
    seen = gen_split.train.matrix
    for r, u in enumerate(recs.users):
        assert not set(recs.items[r]) & set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]])
    assert np.all(np.diff(recs.scores, axis=1) <= 0)


def test_same_seed_same_model(gen_params, gen_model, gen_split):
    again = GenerativeRecommender(**gen_params).fit(gen_split.train)
    np.testing.assert_array_equal(again.score(np.arange(20)), gen_model.score(np.arange(20)))
    other = GenerativeRecommender(**{**gen_params, "seed": 1, "epochs": 1}).fit(gen_split.train)
    assert not np.allclose(other.score(np.arange(5)), gen_model.score(np.arange(5)))


def test_save_load_identical(gen_model, tmp_path):
    from recfair.models.base import Recommender

    gen_model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "weights.safetensors"]
    back = Recommender.load(tmp_path / "m")
    assert isinstance(back, GenerativeRecommender)
    users = np.arange(15)
    np.testing.assert_array_equal(back.score(users), gen_model.score(users))
    np.testing.assert_array_equal(back.score_profiles(users, {"gender": "F"}), gen_model.score_profiles(users, {"gender": "F"}))
    seqs = gen_model.prompt_ids(users)
    np.testing.assert_array_equal(back.generate_ids(seqs, 5), gen_model.generate_ids(seqs, 5))


def test_profile_overrides(gen_model):
    users = np.arange(30)
    base = gen_model.score(users)
    fem = gen_model.score_profiles(users, {"gender": "F"})
    neutral = gen_model.score_profiles(users, {"gender": None})
    assert not np.allclose(fem, neutral)
    is_f = gen_model.users_table_["gender"].to_numpy()[users] == "F"
    np.testing.assert_allclose(fem[is_f], base[is_f], rtol=1e-5, atol=1e-5)  # same profile → same scores
    ages = gen_model.profile_values()["age"]
    assert ages == bin_labels((18, 25, 35, 45, 50, 56))
    by_label = gen_model.score_profiles(users, {"age": "25-34"})
    by_raw = gen_model.score_profiles(users, {"age": 30})  # raw values are binned
    np.testing.assert_array_equal(by_label, by_raw)
    with pytest.raises(RecfairError) as e:
        gen_model.score_profiles(users, {"gender": "X"})
    assert str(e.value) == UNKNOWN_VALUE.format(value="X", field="gender", choices="F, M")
    with pytest.raises(RecfairError) as e:
        gen_model.score_profiles(users, {"shoe_size": 3})
    assert str(e.value) == UNKNOWN_FIELD.format(field="shoe_size", choices="gender, age")


def test_prompts_round_trip(gen_model):
    prompts = gen_model.render_prompts([0, 1], {"gender": None})
    assert prompts[0].startswith("[BOS] <gender=?> <age=")
    ids = gen_model.vocab_.parse(prompts)
    np.testing.assert_array_equal(ids[0], gen_model.prompt_ids([0], {"gender": None})[0])
    with pytest.raises(RecfairError, match="Unknown token 'hello'"):
        gen_model.vocab_.parse(["[BOS] hello"])


def test_cold_user_and_observe(gen_params, gen_split):
    from recfair.data import make_split

    ds = gen_split.train
    sp = make_split(ds, "cold-users", test_size=0.2, seed=0)
    m = GenerativeRecommender(**{**gen_params, "epochs": 1}).fit(sp.train)
    cold = np.flatnonzero((sp.train.user_counts == 0) & (sp.history.user_counts > 0))[:3]
    before = m.score(cold)  # profile only
    m.observe(sp.history)
    after = m.score(cold)
    assert not np.allclose(before, after)
    recs = m.recommend(cold, k=5)
    hist = sp.history.matrix
    for r, u in enumerate(cold):
        assert not set(recs.items[r]) & set(hist.indices[hist.indptr[u] : hist.indptr[u + 1]])


def test_item_init_from_embeddings(gen_params, gen_split, tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(gen_split.train.n_items, 12)).astype(np.float32)
    save_file({"item_embeddings": emb}, str(tmp_path / "e.safetensors"))
    m = GenerativeRecommender(**{**gen_params, "epochs": 1, "item_init": str(tmp_path / "e.safetensors")})
    m.fit(gen_split.train)
    assert m.get_params()["item_init"].endswith("e.safetensors")
    np.save(tmp_path / "bad.npy", emb[:5])
    with pytest.raises(RecfairError, match="item_init must be an"):
        GenerativeRecommender(**{**gen_params, "epochs": 1, "item_init": str(tmp_path / "bad.npy")}).fit(gen_split.train)


def test_bad_params(gen_split):
    with pytest.raises(RecfairError) as e:
        GenerativeRecommender(epochs=0).fit(gen_split.train)
    assert str(e.value) == BAD_PARAM.format(param="epochs", owner="GenerativeRecommender", expected="a positive int", value=0)
    with pytest.raises(RecfairError, match="multiple of n_heads"):
        GenerativeRecommender(embedding_size=33, n_heads=2).fit(gen_split.train)
    assert create_model("generative", epochs=1).epochs == 1


def test_generation_matches_ranking_and_batching(gen_model):
    from recfair.models.generative.builtin import GENERATE_TOO_LONG

    users = np.arange(40)
    seqs = gen_model.prompt_ids(users)
    gen = gen_model.generate_ids(seqs, 5)
    one_by_one = np.concatenate([gen_model.generate_ids([s], 5) for s in seqs])
    np.testing.assert_array_equal(gen, one_by_one)  # left padding does not change the output
    # greedy decoding starts with the top-ranked item (history cut to max_len - k keeps the profile)
    short = [s for s in seqs if len(s) <= gen_model.vocab_.prefix_length + gen_model.max_len - 5]
    assert len(short) > 5
    np.testing.assert_array_equal(gen_model.generate_ids(short, 5)[:, 0], gen_model.score_ids(short).argmax(axis=1))
    long_prompt = gen_model.prompt_ids([0], history=[np.arange(gen_model.max_len)])
    assert gen_model.generate_ids(long_prompt, 5).min() >= 0
    with pytest.raises(RecfairError) as e:
        gen_model.generate_ids(seqs[:1], gen_model.max_len + 1)
    assert str(e.value) == GENERATE_TOO_LONG.format(k=gen_model.max_len + 1, max_len=gen_model.max_len)


class _ScorePenalty:
    """Pushes predicted logits down (a stand-in for a fairness penalty)."""

    def __init__(self, lambda_):
        self.lambda_, self.bound, self.calls = lambda_, False, 0

    def bind(self, train):
        self.bound = True

    def parameters(self):
        return []

    def __call__(self, batch):
        self.calls += 1
        assert batch.predictions.shape == batch.users.shape == batch.items.shape
        return self.lambda_ * (batch.predictions ** 2).mean()


def test_penalty_lambda_zero_is_bit_identical(gen_params, gen_split):
    p = {**gen_params, "epochs": 1}
    plain = GenerativeRecommender(**p).fit(gen_split.train)
    zero = _ScorePenalty(0.0)
    same = GenerativeRecommender(**p).fit(gen_split.train, penalty=zero)
    assert zero.calls == 0
    np.testing.assert_array_equal(plain.score(np.arange(10)), same.score(np.arange(10)))
    pen = _ScorePenalty(1.0)
    other = GenerativeRecommender(**p).fit(gen_split.train, penalty=pen)
    assert pen.bound and pen.calls > 0
    assert not np.allclose(plain.score(np.arange(10)), other.score(np.arange(10)))


def test_sample_weight_and_early_stopping(gen_params, gen_split):
    from recfair.data import make_split

    p = {**gen_params, "epochs": 1}
    ones = np.ones(gen_split.train.n_interactions)
    a = GenerativeRecommender(**p).fit(gen_split.train)
    b = GenerativeRecommender(**p).fit(gen_split.train, sample_weight=ones)
    np.testing.assert_allclose(a.score(np.arange(5)), b.score(np.arange(5)), rtol=1e-4, atol=1e-4)
    w = ones.copy()
    w[gen_split.train.user < 60] = 0.0  # ignore half of the users' interactions
    c = GenerativeRecommender(**p).fit(gen_split.train, sample_weight=w)
    assert not np.allclose(a.score(np.arange(5)), c.score(np.arange(5)), atol=1e-3)
    sp = make_split(gen_split.train, "user-temporal", test_size=0.2, valid_size=0.1, seed=0)
    m = GenerativeRecommender(**{**gen_params, "epochs": 6, "patience": 1, "learning_rate": 0.05}).fit(sp.train, sp.valid)
    valid = [r["valid"] for r in m.training_log_]
    best = int(np.argmax(valid))
    assert m.valid_metric_ == "ndcg@10" and m.best_epoch_ == best + 1 and len(valid) == min(6, best + 2)
    from recfair.models.torch_kit import ndcg_at_k

    users = np.flatnonzero(sp.valid.user_counts > 0)
    recs = m.recommend(users, k=10)
    assert ndcg_at_k(recs.items, recs.users, sp.valid.matrix) == pytest.approx(max(valid))  # best weights restored
