"""Sharded batch scoring (recfair.study.distributed): assembly without Ray, and Ray == local (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from recfair.data import make_synthetic
from recfair.errors import RecfairError
from recfair.models.registry import create_model
from recfair.study.distributed import (
    BAD_SHARD_SIZE,
    BAD_WINDOW,
    LocalExecutor,
    evaluate_sharded,
    load_blob,
    model_blob,
    recommend_sharded,
    run_shards,
    score_shard,
    shard_users,
)

QUIET = {"progress": False, "threads": 1}


@pytest.fixture(scope="module")
def fitted():
    """A small BPR-MF model on synthetic data."""
    ds = make_synthetic(n_users=120, n_items=80, n_interactions=2400, seed=3)
    return create_model("bpr", embedding_size=8, epochs=2, seed=0, runtime=QUIET).fit(ds)


class ReversedExecutor(LocalExecutor):
    """Holds tasks and finishes the most recent first, so shards complete out of order."""

    def __init__(self) -> None:
        self.in_flight_seen = 0

    def submit(self, fn, *args):
        """Defer the call."""
        return (fn, args)

    def wait(self, handles):
        """Finish the last handle only."""
        self.in_flight_seen = max(self.in_flight_seen, len(handles))
        fn, args = handles[-1]
        return [fn(*args)], handles[:-1]


def _same(got, want) -> None:
    np.testing.assert_array_equal(got.users, want.users)
    np.testing.assert_array_equal(got.items, want.items)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_shards_keep_order_and_size():
    users = np.arange(10) * 3
    shards = shard_users(users, 4)
    assert [len(s) for s in shards] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(shards), users)
    with pytest.raises(RecfairError) as err:
        shard_users(users, 0)
    assert str(err.value) == BAD_SHARD_SIZE.format(value=0)


def test_local_sharded_equals_recommend(fitted):
    users = np.arange(fitted.n_users_)[::-1].copy()
    run = recommend_sharded(fitted, users, k=7, shard_size=13, details=True)
    _same(run.recs, fitted.recommend(users, 7))
    assert run.shard_sizes == [13] * 9 + [3] and len(run.shard_seconds) == 10 and run.workers == 1


def test_out_of_order_completion_is_assembled_in_user_order(fitted):
    users = np.arange(fitted.n_users_)
    shards = shard_users(users, 11)
    executor = ReversedExecutor()
    run = run_shards(executor, model_blob(fitted), shards, 5, window=3)
    _same(run.recs, fitted.recommend(users, 5))
    assert run.max_in_flight == executor.in_flight_seen == 3
    with pytest.raises(RecfairError) as err:
        run_shards(executor, model_blob(fitted), shards, 5, window=0)
    assert str(err.value) == BAD_WINDOW.format(value=0)


def test_blob_loads_once_per_process(fitted):
    blob = model_blob(fitted)
    assert model_blob(fitted).key == blob.key and set(blob.files) == {"config.json", "weights.safetensors"}
    assert load_blob(blob) is load_blob(blob)
    out = score_shard(blob, 4, np.array([2, 0]), 3, True)
    assert out["index"] == 4
    np.testing.assert_array_equal(out["items"], fitted.recommend(np.array([2, 0]), 3).items)


def test_evaluate_sharded_equals_local(fitted):
    from recfair.data import make_split
    from recfair.metrics import evaluate

    ds = make_synthetic(n_users=120, n_items=80, n_interactions=2400, seed=3)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=0)
    model = create_model("bpr", embedding_size=8, epochs=2, seed=0, runtime=QUIET).fit(split.train)
    users = np.flatnonzero(split.test.user_counts > 0)
    want = evaluate(model.recommend(users, 10), split.test, train=split.train, k=10, metrics=["ndcg", "recall"])
    got = evaluate_sharded(model, split.test, train=split.train, k=10, metrics=["ndcg", "recall"], shard_size=17)
    assert got.overall == want.overall and got.n_users == want.n_users > 0
    assert got.per_user.equals(want.per_user)


@pytest.mark.slow
def test_ray_two_workers_equal_local():
    """BPR-MF on ML-100K (synthetic when absent): Ray with 2 workers == local, items and scores exactly."""
    pytest.importorskip("ray")
    from recfair.data.fetch import have_ml100k

    if have_ml100k():
        from recfair.data import load_dataset

        ds = load_dataset("ml-100k")
    else:
        ds = make_synthetic(n_users=900, n_items=1600, n_interactions=90_000, seed=0)
    model = create_model("bpr", epochs=3, seed=0, runtime=QUIET).fit(ds)
    users = np.flatnonzero(np.diff(model.seen_.indptr) > 0)
    run = recommend_sharded(model, users, k=10, shard_size=100, window=4, use_ray=True, num_cpus=2, details=True)
    _same(run.recs, model.recommend(users, 10))
    assert run.workers == 2 and run.max_in_flight == 4 and len(run.shard_seconds) == -(-len(users) // 100)
