"""Sharded batch scoring of one BPR-MF model on a local Ray with 2 workers (issue 15, item 4).

For each data set — ML-100K (when fetched) and synthetic data with 10⁶
interactions (``users = n/50 = 20,000``, ``items = max(2000, n/200) = 5,000``,
``make_synthetic`` seed 0), and the same 10⁶ interactions spread over
``--wide-items`` (500,000) items, the catalogue of the 10⁸ layout in
docs/scaling.md (only the first ``--wide-users`` users scored) — a BPR-MF model (64 factors, ``--epochs`` epochs, one
thread) is fitted, then the top-10 of every user with training interactions is
computed three ways, timed:

``local``   ``model.recommend(users, 10)`` in this process (the reference);
``ray``     :func:`recfair.study.distributed.recommend_sharded` on a local Ray
            (``num_cpus=2``, one CPU per task, ``--window`` tasks in flight,
            ``--shard-size`` users per task) — Ray start-up excluded, one warm-up
            pass first so every worker has loaded the model; fastest of ``--repeats``;
``check``   the Ray lists equal the local ones (items and scores exactly).

The per-shard cost is the median over shards of the seconds a task spends
scoring (inside the worker; model loading excluded), divided by
``(shard users / 1000) × (items / 1000)``: seconds per 1,000 users per 1,000 items.

Run: nice .venv/bin/python bench/bench_ray_scoring.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date

import numpy as np


def _datasets(args) -> list[tuple[str, object, int | None]]:
    from recfair.data import make_synthetic
    from recfair.data.fetch import have_ml100k

    out: list[tuple[str, object, int | None]] = []
    if have_ml100k():
        from recfair.data import load_dataset

        out.append(("ML-100K", load_dataset("ml-100k"), None))
    n = int(float(args.synthetic))
    out.append((f"synthetic {n:.0e}", make_synthetic(n // 50, max(2000, n // 200), n, seed=0), None))
    if args.wide_items:
        wide = make_synthetic(n // 50, args.wide_items, n, seed=0)
        out.append((f"synthetic {n:.0e}, {args.wide_items:,} items", wide, args.wide_users))
    return out


def measure(name: str, ds, limit: int | None, args) -> dict:
    """Fit BPR-MF on ``ds``; time local and Ray scoring (first ``limit`` users); return one result row."""
    from recfair.models.registry import create_model
    from recfair.study.distributed import RayExecutor, model_blob, run_shards, shard_users

    t0 = time.perf_counter()
    model = create_model("bpr", epochs=args.epochs, seed=0, runtime={"threads": 1, "progress": False}).fit(ds)
    fit_s = time.perf_counter() - t0
    users = np.flatnonzero(np.diff(model.seen_.indptr) > 0)[:limit]
    size = min(args.shard_size, max(1, len(users) // 8))
    shards = shard_users(users, size)
    local_s = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        local = model.recommend(users, 10)
        local_s = min(local_s, time.perf_counter() - t0)
    executor = RayExecutor(None, num_cpus=2)
    try:
        blob = model_blob(model)
        run_shards(executor, blob, shards, 10, window=args.window)  # warm-up: every worker loads the model
        runs = [run_shards(executor, blob, shards, 10, window=args.window) for _ in range(args.repeats)]
        run = min(runs, key=lambda r: r.wall_seconds)
    finally:
        executor.close()
    same = bool(np.array_equal(run.recs.items, local.items) and np.array_equal(run.recs.scores, local.scores,
                                                                                equal_nan=True))
    n_items = model.n_items_
    per_cell = [s / (u / 1000) / (n_items / 1000) for s, u in zip(run.shard_seconds, run.shard_sizes)]
    return {"data": name, "interactions": int(ds.n_interactions), "users": int(len(users)), "items": int(n_items),
            "fit_s": fit_s, "shard_size": size, "shards": len(shards), "window": args.window,
            "workers": run.workers, "local_s": local_s, "ray_wall_s": run.wall_seconds,
            "shard_s_median": statistics.median(run.shard_seconds),
            "s_per_1k_users_1k_items": statistics.median(per_cell),
            "s_per_1k_users_1k_items_max": max(per_cell), "identical": same}


def table(rows: list[dict]) -> str:
    """The Markdown table of the results."""
    head = ("| data | interactions | users × items | shard (users) | shards | workers | local top-10 (s) | "
            "Ray wall (s) | median shard (s) | s / 1k users / 1k items (median, max) | identical |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['data']} | {r['interactions']:,} | {r['users']:,} × {r['items']:,} | {r['shard_size']:,} | "
             f"{r['shards']} | {r['workers']} | {r['local_s']:.3f} | {r['ray_wall_s']:.3f} | "
             f"{r['shard_s_median']:.4f} | {r['s_per_1k_users_1k_items']:.4f}, "
             f"{r['s_per_1k_users_1k_items_max']:.4f} | {'yes' if r['identical'] else 'NO'} |" for r in rows]
    return head + "\n".join(lines)


def main() -> None:
    """Parse options, measure each data set, print the table (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", default="1e6", help="interactions of the synthetic set")
    parser.add_argument("--epochs", type=int, default=1, help="BPR-MF epochs (scoring cost does not depend on it)")
    parser.add_argument("--shard-size", type=int, default=1000, help="users per task (at most users/8)")
    parser.add_argument("--wide-items", type=int, default=500_000,
                        help="also a set with this many items (the 10⁸ layout's catalogue); 0: skip")
    parser.add_argument("--wide-users", type=int, default=2000, help="users scored on the wide set")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (fastest kept)")
    parser.add_argument("--window", type=int, default=4, help="tasks in flight")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    rows = [measure(name, ds, limit, args) for name, ds, limit in _datasets(args)]
    import ray

    print(f"{date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
          f"load {os.getloadavg()[0]:.1f} · ray {ray.__version__}")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
