"""One library on one data set, in its own process: the time-to-quality curve, top-10 time, peak memory.

Called by ``run.py`` (``python worker.py LIB SIZE --grid 1,2,3 ...``); prints one JSON
line.  Protocol, the same for every library:

1. load the data and split it (user-temporal 0.2, seed 0), then record the peak RSS
   (the shared baseline: Python, numpy, pandas, recfair's data and metrics code);
2. one warm-up fit of 1 epoch (imports, thread pools, LensKit's ``torch.compile``),
   timed and reported apart as ``first_fit_s`` — never part of the curve;
3. for each epoch count ``e`` of the grid, train **from scratch** for ``e`` epochs
   with the seed, time the fit (wall clock), take the library's top-10 for every user
   (training items excluded) and score it with ``recfair.metrics.evaluate``;
   skip the rest once the next point's extrapolated training time would take the
   cumulative training time past ``--budget`` seconds;
4. time the library's own top-10 call for every user ``--top-repeats`` times on the
   last model (minimum kept);
5. report the process's peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from libs import ADAPTERS, FAST_TOP, Data, make_data  # noqa: E402

# Sizes of the MovieLens releases the synthetic sets copy (users, items, interactions).
SIZES = {
    "ml-100k": None,
    "ml-1m-size": (6040, 3706, 1_000_209),
    "ml-10m-size": (69_878, 10_677, 10_000_054),
}


def peak_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(size: str, seed: int) -> Data:
    """ML-100K, or a synthetic set of an ML release's size (``recfair.data.make_synthetic``), split."""
    from recfair.data import load_dataset, make_split, make_synthetic

    if SIZES[size] is None:
        ds = load_dataset("ml-100k")
    else:
        n_users, n_items, n = SIZES[size]
        ds = make_synthetic(n_users=n_users, n_items=n_items, n_interactions=n, embedding_size=16, seed=seed)
    return make_data(make_split(ds, "user-temporal", test_size=0.2, seed=seed))


def score(items: np.ndarray, data: Data) -> tuple[float, float]:
    """nDCG@10 and Recall@10 of ``(n_users, 10)`` lists, by recfair's evaluator (reference protocol)."""
    from recfair.metrics import evaluate
    from recfair.recommendations import Recommendations

    recs = Recommendations(np.arange(data.n_users), items.astype(np.int32), np.zeros(items.shape, np.float32))
    ev = evaluate(recs, data.split.test, train=data.split.train, k=10, metrics=["ndcg", "recall"])
    return float(ev.overall["ndcg@10"]), float(ev.overall["recall@10"])


def curve(lib: str, data: Data, grid: list[int], budget: float, seed: int, threads: int):
    """Points ``{epochs, seconds, ndcg, recall}`` and the last model, cut after ``budget`` s of training."""
    fit, top = ADAPTERS[lib]
    fast = FAST_TOP.get(lib, top)
    points, spent, model = [], 0.0, None
    for e in grid:
        if points and spent + points[-1]["seconds"] * e / points[-1]["epochs"] > budget:
            break  # the next point would pass the budget
        t = time.perf_counter()
        model = fit(data, e, seed, threads)
        secs = time.perf_counter() - t
        spent += secs
        ndcg, recall = score(fast(model, data), data)
        points.append({"epochs": e, "seconds": secs, "ndcg": ndcg, "recall": recall})
        print(f"  {lib} e={e} {secs:.2f}s nDCG {ndcg:.4f}", file=sys.stderr, flush=True)
    return points, model


def top_timing(lib: str, model, data: Data, repeats: int) -> dict:
    """Minimum wall time of the library's own top-10 for every user; its quality; agreement with the curve's lists."""
    _, top = ADAPTERS[lib]
    best, items = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        items = top(model, data)
        best = min(best, time.perf_counter() - t)
    ndcg, recall = score(items, data)
    same = float(np.mean(items == FAST_TOP[lib](model, data))) if lib in FAST_TOP else 1.0
    return {"top10_s": best, "top_ndcg": ndcg, "top_recall": recall, "fast_lists_agree": same}


def main() -> None:
    """Parse arguments, run the protocol, print one JSON line on stdout."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lib", choices=sorted(ADAPTERS))
    ap.add_argument("size", choices=sorted(SIZES))
    ap.add_argument("--grid", default="1,2,3,5", help="epoch counts, comma-separated")
    ap.add_argument("--budget", type=float, default=120.0, help="stop the curve after this much training (s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    data = load(args.size, args.seed)
    out = {"lib": args.lib, "size": args.size, "load_s": time.perf_counter() - t, "baseline_mb": peak_mb(),
           "n_users": data.n_users, "n_items": int(data.csr.shape[1]), "n_train": int(data.csr.nnz)}
    t = time.perf_counter()
    ADAPTERS[args.lib][0](data, 1, args.seed, args.threads)
    out["first_fit_s"] = time.perf_counter() - t
    grid = [int(x) for x in args.grid.split(",")]
    out["points"], model = curve(args.lib, data, grid, args.budget, args.seed, args.threads)
    out.update(top_timing(args.lib, model, data, args.top_repeats))
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
