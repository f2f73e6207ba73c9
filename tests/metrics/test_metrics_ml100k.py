"""Integration: on ML-100K with METRICS.md's reference protocol, a most-popular
recommender scores what LensKit's Popularity scored there (nDCG@10 .119, Recall@10 .067).

The split and the recommender are built here with plain numpy so that this test
checks the metrics, not another module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair import Dataset, Recommendations
from recfair.data.fetch import have_ml100k, ml100k_dir
from recfair.metrics import evaluate

pytestmark = pytest.mark.skipif(not have_ml100k(), reason="ML-100K not obtained (make data)")


def _split():
    inter = pd.read_csv(ml100k_dir() / "ml-100k.inter", sep="\t")
    inter.columns = [c.split(":")[0] for c in inter.columns]
    ds = Dataset.from_frame(inter, user_col="user_id", item_col="item_id")
    order = np.lexsort((np.arange(len(ds)), ds.timestamp, ds.user))  # per user by time, ties in file order
    n_u = np.bincount(ds.user, minlength=ds.n_users)
    start = np.concatenate([[0], np.cumsum(n_u)[:-1]])
    rank = np.arange(len(ds)) - start[ds.user[order]]
    n_test = np.maximum(np.floor(0.2 * n_u), 1).astype(int)
    is_test = np.zeros(len(ds), dtype=bool)
    is_test[order] = rank >= (n_u - n_test)[ds.user[order]]
    return ds.subset(~is_test), ds.subset(is_test)


def test_most_popular_matches_lenskit_reference():
    train, test = _split()
    scores = np.tile(train.item_popularity.astype(np.float64), (train.n_users, 1))
    scores[train.matrix.toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10].astype(np.int32)
    recs = Recommendations(np.arange(train.n_users), top, np.take_along_axis(scores, top, axis=1))
    ev = evaluate(recs, test, train=train, k=10)
    assert (ev.n_users, ev.n_skipped, ev.n_missing) == (943, 0, 0)
    assert ev.overall["ndcg@10"] == pytest.approx(0.119, abs=1e-3)
    assert ev.overall["recall@10"] == pytest.approx(0.067, abs=1e-3)
    # a most-popular list never leaves the short head
    assert ev.overall["aplt@10"] == 0
