"""Scaling of recfair's pipeline with the number of interactions (issue 15, item 3).

For each size n (default 10⁵, 10⁶, 10⁷) a synthetic data set with
``users = n/50``, ``items = max(2000, n/200)`` (``make_synthetic``, seed 0) goes
through, each stage timed (wall and process CPU) with its own peak RSS:

``generate``  ``make_synthetic`` (not a target stage; reported for the record);
``write``     interactions + user / item tables to Parquet (pandas/pyarrow);
``load``      read back with recfair's loader (``load_dataset(path, users_path=…, items_path=…)``);
``split``     ``make_split(ds, "user-temporal", test_size=0.2)``;
``epoch``     one BPR-MF epoch (64 factors, defaults otherwise, one torch thread);
``evaluate``  top-10 for every test user by full ranking (users in chunks, training
              items excluded) + ``recfair.metrics.evaluate``;
``audit``     ``recfair.fairness.audit`` with the default user and item groupings
              (``--n-bootstrap`` / ``--n-permutations``).

Each size runs in its own process, so peak RSS is that size's; per-stage peaks come
from resetting the kernel's high-water mark (``/proc/self/clear_refs``) before the stage.
Sizes up to ``--repeat-below`` are timed ``--repeats`` times (minimum kept).  The
growth exponent of each stage is the least-squares slope of log(time) on log(n).

Run: nice .venv/bin/python bench/bench_scaling.py [--sizes 1e5,1e6,1e7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

STAGES = ("generate", "write", "load", "split", "epoch", "evaluate", "audit")
TARGETS = {"load": 1.2, "split": 1.2, "epoch": 1.2, "evaluate": 1.2}


def _peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux / not allowed: the peak then stays the process's so far
        pass


def _peak_gib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _timed(fn, repeats: int):
    best, out = (float("inf"), 0.0), None
    _peak_reset()
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w, time.process_time() - c
        best = min(best, (w, c))
    return {"wall_s": best[0], "cpu_s": best[1], "peak_gib": _peak_gib()}, out


def _write_parquet(ds, folder: Path) -> dict[str, Path]:
    import pandas as pd

    paths = {k: folder / f"{k}.parquet" for k in ("interactions", "users", "items")}
    pd.DataFrame({"user_id": ds.user_ids[ds.user], "item_id": ds.item_ids[ds.item],
                  "rating": ds.rating, "timestamp": ds.timestamp}).to_parquet(paths["interactions"])
    users = ds.users.reset_index(drop=True).assign(user_id=ds.user_ids)[["user_id", "gender", "age"]]
    users.to_parquet(paths["users"])
    genres = ["|".join(g) for g in ds.items["genres"]]
    pd.DataFrame({"item_id": ds.item_ids, "genres": genres, "year": ds.items["year"].to_numpy()}).to_parquet(
        paths["items"])
    return paths


def run_size(n: int, args) -> dict:
    """Every stage at ``n`` interactions, in this process; returns ``{stage: timings}``."""
    import torch

    from recfair.data import load_dataset, make_split, make_synthetic
    from recfair.fairness.audit import audit
    from recfair.metrics import evaluate
    from recfair.models.registry import create_model

    torch.set_num_threads(1)
    reps = args.repeats if n <= args.repeat_below else 1
    users, items = n // 50, max(2000, n // 200)
    out: dict = {"n": n, "users": users, "items": items}
    out["generate"], ds = _timed(lambda: make_synthetic(users, items, n, seed=0), reps)
    with tempfile.TemporaryDirectory(prefix="recfair-scaling-") as tmp:
        out["write"], paths = _timed(lambda: _write_parquet(ds, Path(tmp)), reps)
        del ds
        out["load"], ds = _timed(lambda: load_dataset(
            paths["interactions"], user_col="user_id", item_col="item_id", rating_col="rating",
            timestamp_col="timestamp", users_path=paths["users"], items_path=paths["items"]), reps)
    out["split"], split = _timed(lambda: make_split(ds, "user-temporal", test_size=0.2, seed=0), reps)
    runtime = {"threads": 1, "progress": False}
    out["epoch"], model = _timed(
        lambda: create_model("bpr", epochs=1, seed=0, runtime=runtime).fit(split.train), reps)

    def rank_and_evaluate():
        recs = model.recommend(split.test.active_users, k=10)
        return recs, evaluate(recs, split.test, train=split.train, k=10)

    out["evaluate"], (recs, ev) = _timed(rank_and_evaluate, reps)
    out["ndcg@10"] = float(ev.overall["ndcg@10"])
    out["scored_cells"] = int(len(recs.users)) * int(split.train.n_items)  # full ranking: users × items
    out["audit"], _ = _timed(lambda: audit(recs, split, k=10, n_bootstrap=args.n_bootstrap,
                                           n_permutations=args.n_permutations, seed=0), reps)
    return out


def exponents(rows: list[dict], key: str = "cpu_s") -> dict[str, float]:
    """Least-squares slope of log(time) on log(n) per stage (needs two sizes or more).

    ``key="cpu_s"`` (process CPU time) is the steadier number on a shared machine.
    """
    n = np.log([r["n"] for r in rows])
    return {s: float(np.polyfit(n, np.log([max(r[s][key], 1e-6) for r in rows]), 1)[0])
            for s in STAGES} if len(rows) > 1 else {}


def markdown(rows: list[dict]) -> str:
    """The table for docs: CPU / wall seconds and peak GiB per stage and size, then the exponents."""
    cpu, wall = exponents(rows), exponents(rows, "wall_s")
    head = "| stage | " + " | ".join(f"10^{np.log10(r['n']):.0f} ({r['users']:,} × {r['items']:,})" for r in rows)
    head += " | exponent CPU (wall) | target |\n|---|" + "---|" * (len(rows) + 2) + "\n"
    lines = []
    for s in STAGES:
        cells = " | ".join(f"{r[s]['cpu_s']:.2f} / {r[s]['wall_s']:.2f} s, {r[s]['peak_gib']:.2f} GiB" for r in rows)
        target = TARGETS.get(s)
        verdict = "" if target is None or s not in cpu else ("met" if cpu[s] <= target else "MISSED")
        tgt = "–" if target is None else f"≤ {target} {verdict}"
        lines.append(f"| {s} | {cells} | {cpu.get(s, float('nan')):.2f} ({wall.get(s, float('nan')):.2f}) | {tgt} |")
    if all("scored_cells" in r for r in rows):  # full ranking is users × items work: n² when both grow with n
        per = " | ".join(f"{1e9 * r['evaluate']['cpu_s'] / r['scored_cells']:.1f} ns" for r in rows)
        cells = np.log([r["scored_cells"] for r in rows])
        slope = np.polyfit(cells, np.log([r["evaluate"]["cpu_s"] for r in rows]), 1)[0] if len(rows) > 1 else np.nan
        lines.append(f"| evaluate CPU per scored cell (users × items) | {per} | {slope:.2f} in cells | ≤ 1.2 |")
    nd = " | ".join(f"{r['ndcg@10']:.4f}" for r in rows)
    lines.append(f"| nDCG@10 after 1 epoch | {nd} | | |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    """Run every size in a child process, print the Markdown table, optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated interaction counts")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats for sizes up to --repeat-below")
    ap.add_argument("--repeat-below", type=float, default=1e6)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--n-permutations", type=int, default=2000)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--from-json", default=None, help="only print the table of a saved --json run")
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)  # child: one size
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(Path(args.from_json).read_text())["rows"]))
        return
    if args.one is not None:
        Path(args.out).write_text(json.dumps(run_size(int(args.one), args)))
        return
    rows = []
    for size in args.sizes.split(","):
        with tempfile.NamedTemporaryFile(suffix=".json") as fh:
            cmd = [sys.executable, __file__, "--one", size, "--out", fh.name, "--repeats", str(args.repeats),
                   "--repeat-below", str(args.repeat_below), "--n-bootstrap", str(args.n_bootstrap),
                   "--n-permutations", str(args.n_permutations)]
            subprocess.run(cmd, check=True)
            rows.append(json.loads(Path(fh.name).read_text()))
        print(json.dumps({k: rows[-1][k] for k in ("n", *STAGES)}), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{date.today()}  {platform.node()}  {os.cpu_count()} CPUs  load average at end {load:.1f}\n")
    print("cells: CPU / wall seconds (minimum over repeats), peak RSS of the stage\n")
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "exponents_cpu": exponents(rows),
                                               "exponents_wall": exponents(rows, "wall_s")}, indent=2))


if __name__ == "__main__":
    main()
