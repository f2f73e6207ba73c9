"""evaluate(): the per-user table, overall values, user bookkeeping and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.helpers.metrics import make_dataset, make_recs

from recfair import Recommendations
from recfair.errors import RecfairError
from recfair.metrics import PER_USER_METRICS, evaluate, ndcg, recall, register_metric
from recfair.metrics.evaluate import DUPLICATE_USERS, MISSING_USERS, NEEDS_TRAIN, UNKNOWN_METRIC

ACCURACY = ["precision", "recall", "hit", "ndcg", "mrr", "map"]
BEYOND = ["arp", "aplt", "aclt", "novelty", "ild", "miscalibration", "popcal"]


def test_accuracy_table(ranking_case):
    recs, test = ranking_case
    ev = evaluate(recs, test, k=5)
    assert list(ev.per_user.columns) == [f"{m}@5" for m in ACCURACY]
    assert ev.per_user.index.name == "user"
    # user 2 has no test items: skipped and counted
    assert list(ev.per_user.index) == [0, 1, 3]
    assert (ev.n_users, ev.n_skipped, ev.n_missing) == (3, 1, 0)
    np.testing.assert_allclose(ev.per_user["recall@5"], [1, 1, 0])
    assert ev.overall["precision@5"] == pytest.approx((3 / 5 + 1 / 5 + 0) / 3)
    assert ev.overall["ndcg@5"] == pytest.approx(np.nanmean(ndcg(recs, test, 5)))
    # coverage over the evaluated users' lists: {1..8} ∪ {2} → 8 of 10 items
    assert ev.overall["coverage@5"] == pytest.approx(8 / 10)
    frame = ev.to_frame()
    assert list(frame.columns) == ["metric", "value"]
    assert {"ndcg@5", "recall@5", "coverage@5", "gini@5"} <= set(frame["metric"])
    # each metric once: no unsuffixed coverage / gini aliases printed next to coverage@k / gini@k
    assert not {"coverage", "gini"} & set(frame["metric"]) and frame["metric"].is_unique


def test_beyond_columns_need_train(beyond_case):
    recs, train = beyond_case
    test = make_dataset([(u, 5 - u) for u in range(4)], n_users=4, n_items=6, genres=[()] * 6)
    ev = evaluate(recs, test, train=train, k=3)
    assert list(ev.per_user.columns) == [f"{m}@3" for m in ACCURACY + BEYOND]
    # the test set's item table decides ILD's default vectors; train's genres decide calibration
    ev_no_train = evaluate(recs, test, k=3)
    # ild reads only item vectors / the test set's genres: computed, identically, without train
    assert list(ev_no_train.per_user.columns) == [f"{m}@3" for m in ACCURACY] + ["ild@3"]
    pd.testing.assert_series_equal(ev_no_train.per_user["ild@3"], ev.per_user["ild@3"])
    assert evaluate(recs, test, k=3, metrics=["ild"]).per_user.columns.tolist() == ["ild@3"]
    with pytest.raises(RecfairError) as e:
        evaluate(recs, test, k=3, metrics=["arp"])
    assert str(e.value) == NEEDS_TRAIN.format(name="arp")


def test_metric_selection_and_unknown(ranking_case):
    recs, test = ranking_case
    ev = evaluate(recs, test, k=3, metrics=["ndcg@3", "Recall"])
    assert list(ev.per_user.columns) == ["ndcg@3", "recall@3"]
    with pytest.raises(RecfairError) as e:
        evaluate(recs, test, metrics=["auc"])
    assert str(e.value) == UNKNOWN_METRIC.format(name="auc", choices=", ".join(PER_USER_METRICS))


def test_missing_test_users_count_as_misses(ranking_case):
    recs, test = ranking_case
    only_u0 = recs.select(np.array([0]))
    ev = evaluate(only_u0, test, k=5)
    assert (ev.n_users, ev.n_missing, ev.n_skipped) == (3, 2, 0)
    np.testing.assert_allclose(ev.per_user.loc[[1, 3], "ndcg@5"], [0, 0])
    assert ev.overall["recall@5"] == pytest.approx(1 / 3)
    with pytest.raises(RecfairError) as e:
        evaluate(only_u0, test, k=5, missing="raise")
    assert str(e.value) == MISSING_USERS.format(n=2, example=1)


def test_empty_recommendations_are_all_miss(ranking_case):
    _, test = ranking_case
    ev = evaluate(make_recs([], [], k=5), test, k=5)
    assert ev.n_users == 3 and ev.n_missing == 3
    assert ev.overall["ndcg@5"] == 0 and ev.overall["coverage@5"] == 0
    assert np.isnan(ev.overall["gini@5"])


def test_duplicate_users_rejected(ranking_case):
    _, test = ranking_case
    with pytest.raises(RecfairError) as e:
        evaluate(make_recs([0, 0], [[1], [2]]), test)
    assert str(e.value) == DUPLICATE_USERS.format(example=0)


def test_independent_of_user_order_and_batching(ranking_case):
    recs, test = ranking_case
    full = evaluate(recs, test, k=5)
    rev = recs.select(recs.users[::-1])
    pd.testing.assert_frame_equal(evaluate(rev, test, k=5).per_user, full.per_user)
    # evaluating two batches of users and stacking gives the same per-user rows
    a = evaluate(recs.select(np.array([0, 1])), test, k=5, missing="miss").per_user.loc[[0, 1]]
    b = evaluate(recs.select(np.array([2, 3])), test, k=5, missing="miss").per_user.loc[[3]]
    pd.testing.assert_frame_equal(pd.concat([a, b]), full.per_user)


def test_relevance_threshold_and_predictions():
    test = make_dataset([(0, 0), (0, 1), (1, 2)], n_users=2, n_items=3, ratings=[5.0, 2.0, 4.0])
    recs = make_recs([0, 1], [[1, 0], [2]])
    ev = evaluate(recs, test, k=1, relevance_threshold=4, predictions=[4.0, 2.0, 3.0])
    # with threshold 4 only item 0 is relevant for user 0; list starts with item 1
    np.testing.assert_allclose(ev.per_user["hit@1"], [0, 1])
    np.testing.assert_allclose(ev.per_user["user_mae"], [0.5, 1.0])
    assert ev.overall["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert ev.overall["mae"] == pytest.approx(2 / 3)


def test_register_metric(ranking_case):
    recs, test = ranking_case
    register_metric("listlen", lambda ctx: (ctx.recs.items[:, : ctx.k] >= 0).sum(axis=1).astype(float))
    try:
        ev = evaluate(recs, test, k=5, metrics=["listlen", "recall"])
        np.testing.assert_allclose(ev.per_user["listlen@5"], [5, 1, 5])
        np.testing.assert_allclose(ev.per_user["recall@5"], recall(recs.select(np.array([0, 1, 3])), test, 5))
    finally:
        del PER_USER_METRICS["listlen"]


def test_longer_lists_are_cut_at_k(ranking_case):
    recs, test = ranking_case
    cut = Recommendations(recs.users, recs.items[:, :3], recs.scores[:, :3])
    pd.testing.assert_frame_equal(evaluate(recs, test, k=3).per_user, evaluate(cut, test, k=3).per_user)


def test_train_from_another_index_space(ranking_case):
    from recfair.metrics.evaluate import OTHER_INDEX_SPACE

    recs, test = ranking_case
    other = make_dataset([(0, 0)], n_users=4, n_items=3)
    with pytest.raises(RecfairError) as e:
        evaluate(recs, test, train=other)
    assert str(e.value) == OTHER_INDEX_SPACE.format(tu=4, ti=3, su=4, si=10)


def test_bad_missing_and_k(ranking_case):
    from recfair.metrics.evaluate import BAD_MISSING

    recs, test = ranking_case
    with pytest.raises(RecfairError) as e:
        evaluate(recs, test, missing="skip")
    assert str(e.value) == BAD_MISSING.format(value="skip")
    with pytest.raises(RecfairError, match="The 'k' parameter of evaluate must be a positive int. Got -3 instead."):
        evaluate(recs, test, k=-3)
