"""Independent check of the ranking metrics against ranx (a test-only oracle) to 1e-9.

Where the conventions coincide the values must match exactly (to rounding):
precision@k (divides by k, also for short lists), recall@k, hit_rate@k, mrr@k and
ndcg@k (ranx's default nDCG is Järvelin's rel/log2(i+1) with the ideal over the
top min(k, |T_u|) relevant items — identical for binary relevance).  ranx's
map@k divides by |T_u| while METRICS.md divides by min(k, |T_u|), so ours is
compared as ``map@k · min(k, |T_u|) / |T_u|``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

ranx = pytest.importorskip("ranx")

from tests.helpers.metrics import make_dataset  # noqa: E402

from recfair import Recommendations  # noqa: E402
from recfair.metrics import hit_rate, map_at_k, mrr, ndcg, precision, recall  # noqa: E402

OURS = {"precision": precision, "recall": recall, "hit_rate": hit_rate, "ndcg": ndcg, "mrr": mrr, "map": map_at_k}


def _random_case(seed, n_users=60, n_items=40, width=12):
    rng = np.random.default_rng(seed)
    pairs = []
    for u in range(n_users):
        size = int(rng.integers(1, 20))  # some |T_u| > k, some < k
        pairs += [(u, int(i)) for i in rng.choice(n_items, size, replace=False)]
    test = make_dataset(pairs, n_users=n_users, n_items=n_items)
    items = np.full((n_users, width), -1, dtype=np.int32)
    for u in range(n_users):
        length = int(rng.integers(0, width + 1))  # short and empty lists included
        items[u, :length] = rng.choice(n_items, length, replace=False)
    scores = np.where(items >= 0, width - np.arange(width, dtype=np.float32)[None, :], np.nan)
    return Recommendations(np.arange(n_users), items, scores), test


def _ranx_values(recs, test, k):
    qrels, run = {}, {}
    m = test.matrix
    for u in recs.users:
        qrels[f"q{u}"] = {f"d{j}": 1 for j in m.indices[m.indptr[u] : m.indptr[u + 1]]}
    for u, row in zip(recs.users, recs.items):
        real = row[row >= 0]
        # strictly decreasing scores reproduce our order; ranx needs every query in the run
        run[f"q{u}"] = {f"d{j}": float(len(real) - r) for r, j in enumerate(real)} or {"none": 0.0}
    names = [f"{n}@{k}" for n in OURS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names, return_mean=False)
    order = [f"q{u}" for u in recs.users]
    keys = list(ranx.Qrels(qrels).keys())
    pos = [keys.index(q) for q in order]
    return {n: np.asarray(out[f"{n}@{k}"])[pos] for n in OURS}


@pytest.mark.parametrize("seed, k", [(0, 10), (1, 5), (2, 1), (3, 12)])
def test_matches_ranx(seed, k):
    recs, test = _random_case(seed)
    theirs = _ranx_values(recs, test, k)
    sizes = np.diff(test.matrix.indptr)[recs.users]
    for name, fn in OURS.items():
        ours = fn(recs, test, k)
        if name == "map":
            ours = ours * np.minimum(k, sizes) / sizes
        np.testing.assert_allclose(ours, theirs[name], rtol=0, atol=1e-9, err_msg=name)
