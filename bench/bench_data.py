"""Timing of recfair.data: ML-100K load, synthetic generation, splits.

Prints one row per measurement: best wall time over ``--repeat`` runs and the
process CPU time of that run (the steadier number on a shared machine).

1. ``load_dataset("ml-100k")`` (RecBole atomic files; target < 0.5 s).
2. ``make_synthetic`` at 20k interactions (the test default) and at 10M
   interactions (100,000 users × 20,000 items; target: seconds).
3. Every split protocol on ML-100K and on the 10M synthetic set.

Usage::

    nice .venv/bin/python bench/bench_data.py             # everything
    nice .venv/bin/python bench/bench_data.py --no-10m    # skip the 10M set (about 1 GB of memory)
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from recfair.data import SPLIT_PROTOCOLS, load_dataset, make_split, make_synthetic
from recfair.data.fetch import have_ml100k


def timed(fn, repeat: int):
    best = (float("inf"), 0.0, None)
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w, time.process_time() - c
        if w < best[0]:
            best = (w, c, out)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-10m", action="store_true", help="skip the 10M-interaction synthetic set")
    args = ap.parse_args()
    rows = []

    if have_ml100k():
        load_dataset("ml-100k")  # warm the OS file cache and imports
        w, c, ml = timed(lambda: load_dataset("ml-100k"), args.repeat)
        rows.append(("load_dataset('ml-100k')", f"{ml.n_interactions:,}", w, c))
        for p in SPLIT_PROTOCOLS:
            w, c, sp = timed(lambda: make_split(ml, p, test_size=0.2, seed=0), args.repeat)
            rows.append((f"make_split(ml-100k, {p!r})", f"test {sp.test.n_interactions:,}", w, c))
    else:
        rows.append(("load_dataset('ml-100k')", "missing: python -m recfair.data.fetch", float("nan"), float("nan")))

    w, c, ds = timed(lambda: make_synthetic(), args.repeat)
    rows.append(("make_synthetic() 1k×500", f"{ds.n_interactions:,}", w, c))
    if not args.no_10m:
        w, c, big = timed(lambda: make_synthetic(100_000, 20_000, 10_000_000, seed=0), 1)
        rows.append(("make_synthetic 100k×20k", f"{big.n_interactions:,}", w, c))
        for p in SPLIT_PROTOCOLS:
            w, c, sp = timed(lambda: make_split(big, p, test_size=0.2, seed=0), 1)
            rows.append((f"make_split(10M, {p!r})", f"test {sp.test.n_interactions:,}", w, c))

    table = Table(title="recfair.data timings (best wall of repeats; CPU of that run)")
    for col in ("step", "size", "wall s", "cpu s"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for step, size, w, c in rows:
        table.add_row(step, size, f"{w:.3f}", f"{c:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
