"""Timing and sanity check of recfair.metrics.evaluate.

1. ML-100K with the reference protocol of METRICS.md (per-user temporal split,
   last floor(0.2·n_u) ≥ 1 interactions are test; full ranking excluding training
   items) and a most-popular recommender built here: prints nDCG@10 / Recall@10
   (LensKit's Popularity measured .119 / .067 on this protocol) and the time of
   evaluate() for 943 users × k=10.
2. Synthetic 6,000 users × 3,700 items × k=100: time of evaluate().

Run: .venv/bin/python bench/bench_metrics.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from recfair import Dataset, Recommendations
from recfair.data.fetch import ml100k_dir
from recfair.metrics import evaluate


def _best_of(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def ml100k_split():
    d = ml100k_dir()
    inter = pd.read_csv(d / "ml-100k.inter", sep="\t")
    inter.columns = [c.split(":")[0] for c in inter.columns]
    items = pd.read_csv(d / "ml-100k.item", sep="\t")
    items.columns = [c.split(":")[0] for c in items.columns]
    items["genres"] = items["class"].fillna("").map(lambda s: tuple(s.split()))
    ds = Dataset.from_frame(
        inter, user_col="user_id", item_col="item_id", items=items[["item_id", "genres"]].rename(columns={"item_id": "item"}),
        timestamp_col="timestamp",
    )
    order = np.lexsort((np.arange(len(ds)), ds.timestamp, ds.user))  # stable: ties keep file order
    user_sorted = ds.user[order]
    n_u = np.bincount(ds.user, minlength=ds.n_users)
    start = np.concatenate([[0], np.cumsum(n_u)[:-1]])
    rank = np.arange(len(ds)) - start[user_sorted]
    n_test = np.maximum(np.floor(0.2 * n_u), 1).astype(int)
    is_test = np.zeros(len(ds), dtype=bool)
    is_test[order] = rank >= (n_u - n_test)[user_sorted]
    return ds.subset(~is_test), ds.subset(is_test)


def most_popular(train, k):
    pop = train.item_popularity.astype(np.float64)
    scores = np.broadcast_to(pop, (train.n_users, train.n_items)).copy()
    seen = train.matrix.toarray() > 0
    scores[seen] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int32)
    return Recommendations(np.arange(train.n_users), top, np.take_along_axis(scores, top, axis=1))


def synthetic(n_users=6000, n_items=3700, n=1_000_000, k=100, seed=0):
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8  # Zipf-like popularity
    df = pd.DataFrame({"user": rng.integers(0, n_users, n), "item": rng.choice(n_items, n, p=pop / pop.sum())})
    df = df.drop_duplicates()
    genres = [tuple(rng.choice(list("ABCDEFGHIJKLMNOPQRS"), rng.integers(1, 4), replace=False)) for _ in range(n_items)]
    items = pd.DataFrame({"item": np.arange(n_items), "genres": genres})
    users = pd.DataFrame({"user": np.arange(n_users)})
    ds = Dataset.from_frame(df, users=users, items=items)
    is_test = rng.random(len(ds)) < 0.2
    train, test = ds.subset(~is_test), ds.subset(is_test)
    lists = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int32)
    return train, test, Recommendations(np.arange(n_users), lists, np.zeros(lists.shape, np.float32))


def main():
    train, test = ml100k_split()
    recs = most_popular(train, 10)
    t_all, ev = _best_of(lambda: evaluate(recs, test, train=train, k=10))
    t_acc, _ = _best_of(lambda: evaluate(recs, test, k=10))
    print(f"ML-100K most-popular: nDCG@10 {ev.overall['ndcg@10']:.4f}  Recall@10 {ev.overall['recall@10']:.4f}"
          f"  (users {ev.n_users}, skipped {ev.n_skipped}, missing {ev.n_missing})")
    print(ev.to_frame().to_string(index=False))
    print(f"evaluate 943 users x k=10: all metrics {t_all * 1e3:.1f} ms, accuracy only {t_acc * 1e3:.1f} ms")
    train, test, recs = synthetic()
    t_all, ev = _best_of(lambda: evaluate(recs, test, train=train, k=100), repeat=3)
    t_acc, _ = _best_of(lambda: evaluate(recs, test, k=100), repeat=3)
    print(f"evaluate {ev.n_users} users x k=100: all metrics {t_all * 1e3:.1f} ms, accuracy only {t_acc * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
