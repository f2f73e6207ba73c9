"""One conformance suite every penalty, re-ranker and re-weigher passes.

* shape and type of what it returns;
* determinism (same seed ⇒ identical numbers);
* no leak of test data: everything is computed from the training set it is handed
  (group labels from training activity, popularity from training interactions);
* λ = 0 reproduces the unmitigated model bit for bit (penalties), lambda_ 0 leaves
  training untouched (re-weighers).
"""

import numpy as np
import pytest
import torch

from recfair.data import concat_interactions, make_synthetic
from recfair.fairness.groups import parse_groups
from recfair.mitigation import make_penalty, make_reranker, make_reweigher
from recfair.models.base import PenaltyBatch
from recfair.models.classic.mf import BPRRecommender, MFRecommender
from recfair.recommendations import PAD

PENALTIES = [
    ("value:gender", "mf"), ("absolute:gender", "mf"), ("under:gender", "mf"), ("over:gender", "mf"),
    ("nonparity:gender", "mf"), ("group-gap:gender", "mf"), ("group-gap:activity", "bpr"),
    ("popularity", "bpr"), ("adversarial:gender", "bpr"), ("adversarial:age", "mf"),
]
RERANKERS = [
    ("ugf", {"epsilon": 0.01}), ("ugf", {"epsilon": 0.01, "solver": "greedy"}), ("fair", {"p": 0.5}),
    ("prefix", {"target": 0.4}), ("calibrated", {"lambda_": 0.5}),
]
REWEIGHERS = ["equal-share:gender", "inverse:activity", "upsample:gender"]


@pytest.fixture(scope="module")
def world():
    """A small data set, a train/test cut, and a second world sharing the train part but not the test part."""
    full = make_synthetic(120, 60, 2400, seed=5)
    rng = np.random.default_rng(0)
    test_mask = rng.random(full.n_interactions) < 0.25
    # skew the test part so that activity and popularity differ between train and the full data
    most_active = np.argsort(-full.user_counts, kind="stable")[:10]
    test_mask |= np.isin(full.user, most_active) & (rng.random(full.n_interactions) < 0.9)
    train, test = full.subset(~test_mask), full.subset(test_mask)
    other_test = test.with_interactions(test.user, (test.item + 7) % full.n_items, test.rating, test.timestamp)
    world2 = concat_interactions([train, other_test])
    train2 = world2.subset(np.arange(train.n_interactions))
    return full, train, test, train2


def _model(kind, **kw):
    params = dict(embedding_size=8, epochs=3, seed=0, runtime={"progress": False}, batch_size=256)
    params.update(kw)
    return (MFRecommender if kind == "mf" else BPRRecommender)(**params)


def _scores(model, train):
    return model.score(np.flatnonzero(train.user_counts > 0))


# ------------------------------------------------------------------ penalties
@pytest.mark.parametrize("spec, kind", PENALTIES)
def test_penalty_lambda_zero_is_bit_identical(world, spec, kind):
    _, train, _, _ = world
    plain = _scores(_model(kind).fit(train), train)
    zero = _scores(_model(kind).fit(train, penalty=make_penalty(spec, lambda_=0.0)), train)
    assert np.array_equal(plain, zero)


@pytest.mark.parametrize("spec, kind", PENALTIES)
def test_penalty_is_deterministic_and_acts(world, spec, kind):
    _, train, _, _ = world
    runs = [_scores(_model(kind).fit(train, penalty=make_penalty(spec, lambda_=0.5)), train) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], _scores(_model(kind).fit(train), train))  # λ > 0 changes training


@pytest.mark.parametrize("spec, kind", PENALTIES)
def test_penalty_returns_a_differentiable_scalar(world, spec, kind):
    _, train, _, _ = world
    pen = make_penalty(spec, lambda_=1.0)
    pen.bind(train)
    g = torch.Generator().manual_seed(0)
    b = 64
    users = torch.as_tensor(train.user[:b].astype(np.int64))
    items = torch.as_tensor(train.item[:b].astype(np.int64))
    pred = torch.randn(b, generator=g, requires_grad=True)
    emb = torch.randn(b, 8, generator=g, requires_grad=True)
    batch = PenaltyBatch(users, items, pred, losses=pred.exp(), targets=torch.tensor(train.rating[:b]),
                         user_embeddings=emb, negative_predictions=pred * 0.5,
                         negative_items=torch.randint(0, train.n_items, (b,), generator=g))
    out = pen(batch)
    assert isinstance(out, torch.Tensor) and out.dim() == 0 and torch.isfinite(out)
    out.backward()
    assert pred.grad is not None or emb.grad is not None


@pytest.mark.parametrize("spec, kind", PENALTIES)
def test_penalty_binds_to_training_data_only(world, spec, kind):
    full, train, _, train2 = world
    states = []
    for ds in (train, train2):
        pen = make_penalty(spec, lambda_=1.0)
        pen.bind(ds)
        states.append({k: v for k, v in vars(pen).items() if k.endswith("_") and isinstance(v, torch.Tensor)})
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key])
    pen = make_penalty(spec, lambda_=1.0)
    pen.bind(train)
    if hasattr(pen, "popularity_"):
        assert np.allclose(pen.popularity_.numpy(), np.log1p(train.item_popularity))
        assert not np.allclose(pen.popularity_.numpy(), np.log1p(full.item_popularity))
    if hasattr(pen, "labels_") and "activity" in spec:
        on_train = parse_groups("activity")[0].assign(train).codes
        on_full = parse_groups("activity")[0].assign(full).codes
        assert np.array_equal(pen.labels_.numpy(), on_train) and not np.array_equal(on_train, on_full)


# ------------------------------------------------------------------ re-rankers
@pytest.fixture(scope="module")
def candidates(world):
    _, train, test, _ = world
    model = _model("bpr", epochs=5).fit(train)
    return model.recommend(np.flatnonzero((test.user_counts > 0) & (train.user_counts > 0)), k=30)


@pytest.mark.parametrize("method, options", RERANKERS)
def test_reranker_shape_determinism_and_no_leak(world, candidates, method, options):
    full, train, _, train2 = world
    out = make_reranker(method, **options).rerank(candidates, train, 10)
    assert out.items.shape == (len(candidates), 10) and np.array_equal(out.users, candidates.users)
    for row, cand_row, cand_scores, scores in zip(out.items, candidates.items, candidates.scores, out.scores):
        real = row[row != PAD]
        assert len(set(real)) == real.size and np.isin(real, cand_row).all()
        pos = [np.flatnonzero(cand_row == j)[0] for j in real]
        np.testing.assert_array_equal(scores[: real.size], cand_scores[pos])  # original scores kept
    again = make_reranker(method, **options).rerank(candidates, train, 10)
    np.testing.assert_array_equal(out.items, again.items)
    other = make_reranker(method, **options).rerank(candidates, train2, 10)
    np.testing.assert_array_equal(out.items, other.items)


@pytest.mark.parametrize("method, options", RERANKERS)
def test_reranker_pads_short_candidate_lists(world, candidates, method, options):
    _, train, _, _ = world
    short = candidates.truncate(6)
    items = short.items.copy()
    items[0, 3:] = PAD
    scores = np.where(items == PAD, np.nan, short.scores)
    from recfair.recommendations import Recommendations

    if method == "ugf":
        options = {**options, "epsilon": 1.0}  # loose: the point here is padding
    out = make_reranker(method, **options).rerank(Recommendations(short.users, items, scores), train, 8)
    assert out.items.shape == (len(short), 8)
    assert (out.items[0] != PAD).sum() == 3 and (out.items[1:, :6] != PAD).all() and (out.items[:, 6:] == PAD).all()


# ------------------------------------------------------------------ re-weighers
@pytest.mark.parametrize("spec", REWEIGHERS)
def test_reweigher_shape_determinism_and_no_leak(world, spec):
    _, train, _, train2 = world
    w = make_reweigher(spec).weights(train)
    assert w.shape == (train.n_interactions,) and np.isfinite(w).all() and (w >= 0).all()
    np.testing.assert_array_equal(w, make_reweigher(spec).weights(train))
    np.testing.assert_array_equal(w, make_reweigher(spec).weights(train2))
    assert not np.allclose(w, 1.0)


@pytest.mark.parametrize("spec", REWEIGHERS)
def test_reweigher_lambda_zero_trains_the_unmitigated_model(world, spec):
    _, train, _, _ = world
    new_train, sw = make_reweigher(spec, lambda_=0).apply(train)
    assert new_train is train and sw is None
    plain = _scores(_model("bpr").fit(train), train)
    mitigated = _scores(_model("bpr").fit(new_train, sample_weight=sw), train)
    assert np.array_equal(plain, mitigated)
