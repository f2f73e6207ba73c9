"""Classic recommenders on ML-100K with the reference protocol of METRICS.md.

Prints, for Random, Popularity, ItemKNN, MF (ratings) and BPR-MF:
nDCG@10 / Recall@10 (full ranking over all items minus the user's training items,
all 943 users, from ``recfair.metrics.evaluate``), training time and the time to
produce top-10 lists for every user.  Then:

* ML-100K load time;
* ``implicit``'s BPR (64 factors, 100 iterations, bench-only dependency) on the
  same split, and the time BPR-MF needs to reach implicit's nDCG@10: BPR-MF is
  trained with 1, 2, … epochs (training is deterministic and each epoch draws the
  same random numbers whatever the total, so ``epochs=e`` is exactly the first e
  epochs of a longer run) until its test nDCG@10 reaches implicit's; the test set
  only says *when* the target is reached, it chooses nothing;
* that two runs with the same seed give identical numbers.

Timings are the minimum over ``--repeats`` runs (the machine is shared).
``--threads`` sets torch and BLAS threads for recfair (training and scoring);
``implicit`` keeps its default (all cores) and is also timed with one thread.  The MF top-10 time is also shown
for 1 and 2 threads.

Run: nice -n 0 .venv/bin/python bench/bench_classic.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from recfair.data import load_dataset, make_split
from recfair.metrics import evaluate
from recfair.models.registry import create_model

MODELS = ["random", "popularity", "itemknn", "mf", "bpr"]
REFERENCE = {"popularity": 0.119, "itemknn": 0.193, "bpr": 0.166}  # METRICS.md (LensKit, implicit)


def best_of(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def accuracy(recs, split) -> tuple[float, float]:
    ev = evaluate(recs, split.test, train=split.train, k=10, metrics=["ndcg", "recall"])
    return ev.overall["ndcg@10"], ev.overall["recall@10"]


def run_implicit(split, repeats, seed, num_threads=0):
    try:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
    except ImportError:  # pragma: no cover - bench-only dependency
        return None
    from recfair.recommendations import Recommendations

    ui = split.train.matrix.astype(np.float32).tocsr()

    def fit():
        m = BayesianPersonalizedRanking(factors=64, iterations=100, random_state=seed, num_threads=num_threads)
        m.fit(ui, show_progress=False)
        return m

    fit()  # warm-up (thread pool, imports)
    seconds, model = best_of(fit, repeats)
    users = np.arange(split.train.n_users)
    ids, scores = model.recommend(users, ui, N=10, filter_already_liked_items=True)
    recs = Recommendations(users, ids.astype(np.int32), scores.astype(np.float32))
    return seconds, accuracy(recs, split)


def time_to_target(split, target, repeats, max_epochs, threads):
    """Smallest epoch count whose BPR-MF (defaults otherwise) reaches ``target`` nDCG@10."""
    for epochs in range(1, max_epochs + 1):
        model = create_model("bpr", epochs=epochs, runtime={"threads": threads, "progress": False})
        seconds, model = best_of(lambda: model.fit(split.train), repeats)
        ndcg, _ = accuracy(model.recommend(k=10), split)
        if ndcg >= target:
            return epochs, seconds, ndcg
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (minimum reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads while training MF / BPR-MF")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    print(f"recfair: {args.threads} torch/BLAS thread(s); implicit: its default (all cores)")

    load_s, ds = best_of(lambda: load_dataset("ml-100k"), args.repeats)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=args.seed)
    print(f"ML-100K load: {load_s:.3f} s  ({ds.n_users} users, {ds.n_items} items, {ds.n_interactions} ratings)")
    print(f"split user-temporal 20%: train {split.train.n_interactions}, test {split.test.n_interactions}\n")

    users = np.arange(ds.n_users)
    header = f"{'model':<11}{'nDCG@10':>9}{'Recall@10':>11}{'fit s':>9}{'top-10 all users s':>20}  reference nDCG@10"
    print(header + "\n" + "-" * len(header))
    fitted = {}
    for name in MODELS:
        params = {"seed": args.seed} if name in ("random", "mf", "bpr") else {}
        if name in ("mf", "bpr"):
            params.update(runtime={"threads": args.threads, "progress": False})
        create_model(name, **params).fit(split.train)  # warm-up: imports, allocator
        fit_s, model = best_of(lambda: create_model(name, **params).fit(split.train), args.repeats)
        rec_s, recs = best_of(lambda: model.recommend(users, k=10), max(args.repeats, 20))
        ndcg, recall = accuracy(recs, split)
        ref = REFERENCE.get(name)
        print(f"{name:<11}{ndcg:>9.4f}{recall:>11.4f}{fit_s:>9.3f}{rec_s:>20.4f}  {'' if ref is None else f'{ref:.3f}'}")
        fitted[name] = (model, ndcg, recall, fit_s)

    mf = fitted["mf"][0]
    pred = mf.predict(split.test.user, split.test.item)
    rmse = float(np.sqrt(np.mean((pred - split.test.rating) ** 2)))
    print(f"\nMF test RMSE: {rmse:.4f} (best epoch {mf.best_epoch_} of {mf.epochs}; no validation set given)")

    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        with threadpool_limits(n_threads):
            secs = best_of(lambda: mf.recommend(users, k=10), 50)[0]
        print(f"MF top-10 for all {len(users)} users with {n_threads} thread(s): {secs:.4f} s (target < 0.01 s)")
    torch.set_num_threads(args.threads)

    again = {n: create_model(n, **fitted[n][0].get_params()).fit(split.train) for n in ("mf", "bpr")}
    same = all(
        np.array_equal(again[n].score(users), fitted[n][0].score(users))
        and accuracy(again[n].recommend(users, k=10), split) == fitted[n][1:3]
        for n in again
    )
    print(f"same seed twice -> identical scores and metrics (MF, BPR-MF): {same}")

    imp = run_implicit(split, args.repeats, args.seed)
    if imp is None:
        print("\nimplicit is not installed: skipping the comparison (pip install implicit, bench only)")
        return
    imp_s, (imp_ndcg, imp_recall) = imp
    print(f"\nimplicit BPR (64 factors, 100 it.): nDCG@10 {imp_ndcg:.4f}  Recall@10 {imp_recall:.4f}  fit {imp_s:.3f} s")
    imp1_s, (imp1_ndcg, _) = run_implicit(split, args.repeats, args.seed, num_threads=1)
    print(f"implicit BPR with 1 thread:          nDCG@10 {imp1_ndcg:.4f}                    fit {imp1_s:.3f} s")
    hit = time_to_target(split, imp_ndcg, args.repeats, 20, args.threads)
    if hit is None:
        print("BPR-MF did not reach implicit's nDCG@10 within 20 epochs")
        return
    epochs, secs, ndcg = hit
    print(
        f"BPR-MF reaches implicit's nDCG@10 ({imp_ndcg:.4f}) after {epochs} epoch(s): nDCG@10 {ndcg:.4f} "
        f"in {secs:.3f} s = {secs / imp_s:.2f}x implicit's time (target <= 2x; {secs / imp1_s:.2f}x its 1-thread time)"
    )
    bpr, bpr_ndcg, _, bpr_s = fitted["bpr"]
    print(
        f"BPR-MF defaults ({bpr.epochs} epochs): nDCG@10 {bpr_ndcg:.4f}, fit {bpr_s:.3f} s = {bpr_s / imp_s:.2f}x implicit's time"
    )


if __name__ == "__main__":
    main()
