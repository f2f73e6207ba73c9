"""MF (ratings) and BPR-MF: training plumbing, early stopping, weights, penalties, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recfair.errors import BAD_PARAM, RecfairError
from recfair.models import torch_kit as tu
from recfair.models.classic.mf import NEEDS_RATINGS, BPRRecommender, MFRecommender

from classic_fixtures import RecordingPenalty, checkerboard, make_dataset

SMALL = {"embedding_size": 4, "batch_size": 64, "learning_rate": 0.05}


@pytest.fixture(scope="module")
def board():
    return checkerboard(disliked=3)


def _halves(data, seed=0):
    """A random 75/25 split of the interactions (same index space)."""
    mask = np.random.default_rng(seed).random(data.n_interactions) < 0.75
    return data.subset(mask), data.subset(~mask)


# ------------------------------------------------------------------ penalties
@pytest.mark.parametrize("klass", [MFRecommender, BPRRecommender])
def test_penalty_is_bound_called_and_optimised(klass, board):
    penalty = RecordingPenalty(lambda_=1.0)
    model = klass(**SMALL, epochs=2).fit(board, penalty=penalty)
    assert penalty.bound == [board]
    n_batches = 2 * int(np.ceil(board.n_interactions / 64))
    assert len(penalty.batches) == n_batches
    assert float(penalty.scale.detach()) != 1.0  # its parameter went through the optimiser
    b = penalty.batches[0]
    n = len(b.users)
    assert b.items.shape == b.predictions.shape == b.losses.shape == (n,)
    assert b.user_embeddings.shape == b.item_embeddings.shape == (n, 4)
    if klass is MFRecommender:
        assert b.targets.shape == (n,) and b.negative_predictions is None
        np.testing.assert_allclose(b.losses.detach(), ((b.targets - b.predictions) ** 2).detach(), rtol=1e-6)
    else:
        assert b.negative_predictions.shape == (n,) and b.negative_items.shape == (n,)
        assert b.targets is None
    assert model.is_fitted


@pytest.mark.parametrize("klass", [MFRecommender, BPRRecommender])
def test_penalty_changes_training_in_its_direction(klass, board):
    """The recording penalty rewards high predictions: mean prediction on train must rise."""
    plain = klass(**SMALL, epochs=5).fit(board)
    pushed = klass(**SMALL, epochs=5).fit(board, penalty=RecordingPenalty(lambda_=2.0))
    users = np.arange(40)
    assert pushed.score(users).mean() > plain.score(users).mean() + 0.1


# -------------------------------------------------------------- sample weight
def test_mf_sample_weight_moves_predictions(board):
    """Zero weight on every 1-star rating: the model only learns 5s, so predictions rise."""
    weights = (board.rating > 3).astype(np.float64)
    plain = MFRecommender(**SMALL, epochs=10).fit(board)
    weighted = MFRecommender(**SMALL, epochs=10).fit(board, sample_weight=weights)
    low = board.rating < 3
    assert weighted.predict(board.user[low], board.item[low]).mean() > plain.predict(board.user[low], board.item[low]).mean() + 1


def test_bpr_sample_weight_zero_removes_an_item(board):
    item = 0
    weights = (board.item != item).astype(np.float64)
    users = np.arange(20)  # the block that likes item 0
    rank = lambda m: (m.score(users) > m.score(users)[:, [item]]).sum(axis=1).mean()  # noqa: E731
    plain = BPRRecommender(**SMALL, epochs=20, n_negatives=1).fit(board)
    weighted = BPRRecommender(**SMALL, epochs=20, n_negatives=1).fit(board, sample_weight=weights)
    assert rank(weighted) > rank(plain) + 5


# ------------------------------------------------------------ early stopping
def test_mf_early_stopping_keeps_the_best_epoch(board):
    train, valid = _halves(board)
    mf = MFRecommender(**SMALL, epochs=40, patience=2).fit(train, valid)
    rmse = [h["valid"] for h in mf.training_log_]
    assert mf.valid_metric_ == "rmse" and [h["epoch"] for h in mf.training_log_] == list(range(1, len(rmse) + 1))
    assert mf.best_epoch_ == int(np.argmin(rmse)) + 1
    assert len(rmse) == 40 or len(rmse) == mf.best_epoch_ + 2
    pred = mf.predict(valid.user, valid.item)
    assert np.sqrt(np.mean((pred - valid.rating) ** 2)) == pytest.approx(min(rmse), rel=1e-5)


def test_bpr_early_stopping_keeps_the_best_epoch(board):
    train, valid = _halves(board.subset(board.rating > 3))
    bpr = BPRRecommender(**SMALL, epochs=30, patience=3, n_negatives=1).fit(train, valid)
    ndcg = [h["valid"] for h in bpr.training_log_]
    assert bpr.valid_metric_ == "ndcg@10"
    assert bpr.best_epoch_ == int(np.argmax(ndcg)) + 1
    assert len(ndcg) == 30 or len(ndcg) == bpr.best_epoch_ + 3
    recs = bpr.recommend(np.arange(40), k=10)
    assert tu.ndcg_at_k(recs.items, recs.users, valid.matrix) == pytest.approx(max(ndcg), abs=1e-9)


def test_without_valid_all_epochs_run(board):
    bpr = BPRRecommender(**SMALL, epochs=4).fit(board)
    assert [h["epoch"] for h in bpr.training_log_] == [1, 2, 3, 4] and bpr.best_epoch_ == 4


# ---------------------------------------------------------------- sampling
def test_bpr_negatives_are_unseen_and_seeded(board):
    bpr = BPRRecommender(n_negatives=3)
    inputs = bpr._fit_inputs(board)
    a = bpr._epoch_inputs(inputs, tu.make_generator(5))["negatives"]
    b = bpr._epoch_inputs(inputs, tu.make_generator(5))["negatives"]
    assert a.shape == (board.n_interactions, 3) and torch.equal(a, b)
    seen = board.matrix.toarray() > 0
    users = board.user.astype(np.int64)[:, None]
    assert not seen[users, a.numpy()].any()


def test_bpr_user_who_saw_everything_does_not_hang():
    import threading

    data = make_dataset([0, 0, 1], [0, 1, 0], n_users=2, n_items=2)
    model = BPRRecommender(**SMALL, epochs=2)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(model.fit(data)), daemon=True)
    worker.start()
    worker.join(timeout=60)  # negative sampling must not loop forever looking for an unseen item
    assert not worker.is_alive(), "BPR fit did not finish within 60 s on a user who saw every item"
    assert done == [model]
    recs = model.recommend([0, 1], k=2)
    assert recs.items.tolist() == [[-1, -1], [1, -1]]  # user 0 has nothing left; user 1 only item 1
    assert np.isfinite(model.score([0, 1])).all()


# ------------------------------------------------------------- MF specifics
def test_mf_predict_matches_score(board):
    mf = MFRecommender(**SMALL, epochs=3).fit(board)
    users, items = np.array([0, 5, 39, 5]), np.array([3, 0, 29, 17])
    np.testing.assert_allclose(mf.predict(users, items), mf.score(users)[np.arange(4), items], rtol=1e-6)
    with pytest.raises(RecfairError, match="as many items as users"):
        mf.predict([0, 1], [0])
    with pytest.raises(RecfairError, match="item indices must lie"):
        mf.predict([0], [30])


def test_mf_needs_ratings(board):
    implicit = board.with_interactions(board.user, board.item, None, None, name="clicks")
    with pytest.raises(RecfairError) as exc:
        MFRecommender(epochs=1).fit(implicit)
    assert str(exc.value) == NEEDS_RATINGS.format(name="MFRecommender", part="training", data="clicks")


@pytest.mark.parametrize(
    "klass, param, value, expected",
    [
        (MFRecommender, "embedding_size", 0, "a positive int"),
        (BPRRecommender, "epochs", 2.5, "a positive int"),
        (BPRRecommender, "n_negatives", 0, "a positive int"),
        (MFRecommender, "learning_rate", -1.0, "a positive number"),
        (BPRRecommender, "reg", -0.1, "a non-negative number"),
        (MFRecommender, "seed", "x", "an int"),
    ],
)
def test_bad_hyper_parameters_are_clear_errors(klass, param, value, expected, board):
    with pytest.raises(RecfairError) as exc:
        klass(**{param: value}).fit(board)
    assert str(exc.value) == BAD_PARAM.format(param=param, owner=klass.__name__, expected=expected, value=value)


def test_fit_restores_the_thread_count(board):
    before = torch.get_num_threads()
    BPRRecommender(**SMALL, epochs=1, runtime={"threads": 1}).fit(board)
    assert torch.get_num_threads() == before


def test_different_seeds_give_different_models(board):
    a = BPRRecommender(**SMALL, epochs=2, seed=0).fit(board).score([0])
    b = BPRRecommender(**SMALL, epochs=2, seed=1).fit(board).score([0])
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("klass", [MFRecommender, BPRRecommender])
def test_bad_validation_set_is_a_clear_error(klass, board):
    from recfair.models.classic.mf import BAD_VALID

    empty = board.subset(np.zeros(board.n_interactions, dtype=bool), name="nothing")
    with pytest.raises(RecfairError) as exc:
        klass(epochs=1).fit(board, empty)
    assert str(exc.value) == BAD_VALID.format(
        data="nothing", n_users=40, n_items=30, got_users=40, got_items=30, n=0
    )
