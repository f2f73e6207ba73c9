"""Shared torch training utilities and the top-k tie rule of ``recommend``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recfair.metrics import ndcg
from recfair.models import torch_kit as tu
from recfair.recommendations import PAD, Recommendations, top_k

from classic_fixtures import make_dataset


def test_early_stopping_max_and_min():
    es = tu.EarlyStopping(patience=2, mode="max")
    state = {"w": torch.zeros(1)}
    stops = []
    for epoch, v in enumerate([0.1, 0.3, 0.2, 0.25], 1):
        state["w"] += 1
        stops.append(es.step(v, epoch, lambda: state))
    assert stops == [False, False, False, True]
    assert es.best_epoch == 2 and es.best_value == 0.3 and float(es.best_state["w"]) == 2.0
    es = tu.EarlyStopping(patience=1, mode="min")
    assert es.step(1.0, 1, lambda: state) is False and es.step(1.0, 2, lambda: state) is True
    with pytest.raises(ValueError):
        tu.EarlyStopping(1, mode="best")


def test_shuffled_batches_cover_everything_once_and_are_seeded():
    a = list(tu.shuffled_batches(10, 4, tu.make_generator(0)))
    b = list(tu.shuffled_batches(10, 4, tu.make_generator(0)))
    assert [len(x) for x in a] == [4, 4, 2]
    assert sorted(torch.cat(a).tolist()) == list(range(10))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with tu.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with tu.torch_threads(None):
        assert torch.get_num_threads() == before


def test_progress_is_silent_when_not_a_terminal(capsys):
    with tu.epoch_progress(3, "x", enabled=True) as advance:
        advance(loss=0.5)
    assert capsys.readouterr().err == ""


def test_ndcg_at_k_matches_recfair_metrics():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 30, 50, 10
    rel = (rng.random((n_users, n_items)) < 0.1).astype(np.float32)
    rel[3] = 0  # a user without relevant items is skipped by both
    top = np.vstack([rng.permutation(n_items)[:k] for _ in range(n_users)]).astype(np.int32)
    top[5, 7:] = PAD
    users = np.arange(n_users)
    mine = tu.ndcg_at_k(top, users, sp.csr_matrix(rel))
    r, c = np.nonzero(rel)
    test = make_dataset(r, c, n_users=n_users, n_items=n_items)
    theirs = np.nanmean(ndcg(Recommendations(users, top, np.zeros(top.shape, np.float32)), test, k))
    assert mine == pytest.approx(theirs, abs=1e-12)


def _reference_top_k(scores, k):
    n = scores.shape[0]
    items = np.full((n, k), PAD, np.int32)
    vals = np.full((n, k), np.nan, np.float32)
    for r in range(n):
        order = [j for j in np.argsort(-scores[r], kind="stable") if np.isfinite(scores[r, j])][:k]
        items[r, : len(order)], vals[r, : len(order)] = order, scores[r, order]
    return items, vals


def test_top_k_breaks_ties_by_lower_item_even_at_the_cut():
    assert top_k(np.zeros((2, 100), np.float32), 5)[0].tolist() == [[0, 1, 2, 3, 4]] * 2
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, m, k = rng.integers(1, 15), rng.integers(1, 60), int(rng.integers(1, 70))
        s = rng.integers(0, rng.integers(1, 6), (n, m)).astype(np.float32)
        s[rng.random((n, m)) < 0.3] = -np.inf
        got, want = top_k(s, k), _reference_top_k(s, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_top_k_accepts_a_tensor_and_leaves_it_alone():
    t = torch.tensor([[0.5, -np.inf, 2.0, 2.0]])
    items, vals = top_k(t, 4)
    assert items.tolist() == [[2, 3, 0, PAD]] and np.isnan(vals[0, 3])
    assert t[0, 1] == -np.inf and t[0, 0] == 0.5
