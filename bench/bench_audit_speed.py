"""Speed of the full fairness audit against a plain pandas baseline (issue 15, "Audit speed").

The full audit of ``recfair audit`` on an ML-1M-sized output — user side
(``gender,age,activity``; ``--n-bootstrap`` resamples and ``--n-permutations``
permutations; every default per-user metric), item side
(``popularity,tiers,genres``) and the rating tables (RMSE / MAE by group and
Yao & Huang's rating unfairness) — against :mod:`audit_baseline`, the same
numbers written with pandas ``groupby`` and per-user / per-resample loops.

Data: ``make_synthetic(6040 users, 3706 items, 1,000,209 interactions)``, the
user-temporal split (test 20%), an MF model trained for ``--epochs`` epochs
that gives both the top-10 lists of every user and the predicted ratings.
Every number of every table is compared; the run fails (exit 1) unless they
all agree within ``--tolerance`` (the baseline sums in another order, so
agreement is to the last bits, not bit for bit).

Wall time on a shared machine depends on the load; CPU seconds (process time,
all threads) are the steadier number.

Usage::

    nice .venv/bin/python bench/bench_audit_speed.py            # ML-1M size, 1,000 / 2,000
    nice .venv/bin/python bench/bench_audit_speed.py --users 500 --n-bootstrap 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_baseline import USER_GROUPINGS, baseline_audit  # noqa: E402

ITEM_GROUPINGS = "popularity,tiers,genres"
#: Largest difference accepted between recfair and the baseline, relative to max(1, |value|)
#: (exposure sums run into the thousands, so an absolute bound would only measure their size).
TOLERANCE = 1e-12


class ItemMeanRating:
    """A rating predictor without training: the item's mean training rating (global mean for unrated items)."""

    def __init__(self, train) -> None:
        df = pd.DataFrame({"item": train.item, "rating": train.rating})
        self.means = df.groupby("item")["rating"].mean().reindex(range(train.n_items)).fillna(df["rating"].mean())
        self.values = self.means.to_numpy(dtype=np.float64)

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings of the pairs (``users`` is ignored)."""
        return self.values[np.asarray(items, dtype=np.int64)]


def make_inputs(n_users: int, n_items: int, n_interactions: int, *, model: str = "mf", epochs: int = 1,
                seed: int = 0) -> dict:
    """Synthetic data, its user-temporal split, top-10 lists for every user and a rating predictor.

    ``model="mf"`` trains MF for ``epochs`` and uses it for both; ``"popularity"``
    ranks by popularity and predicts ratings with :class:`ItemMeanRating`.
    """
    from recfair.data import make_split, make_synthetic
    from recfair.models.registry import create_model

    ds = make_synthetic(n_users, n_items, n_interactions, embedding_size=16, seed=seed)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=seed)
    params = {"epochs": epochs, "embedding_size": 16, "seed": seed} if model == "mf" else {}
    fitted = create_model(model, **params).fit(split.train)
    recs = fitted.recommend(np.arange(ds.n_users), 10)
    rater = fitted if callable(getattr(fitted, "predict", None)) else ItemMeanRating(split.train)
    return {"split": split, "recs": recs, "rater": rater}


def recfair_audit(inputs: dict, opts: dict) -> dict[str, pd.DataFrame]:
    """recfair's full audit: :func:`recfair.fairness.audit` plus the rating tables of ``recfair audit``."""
    from recfair.fairness.audit import audit
    from recfair.runs.rating import rating_by_group

    groups = ",".join(USER_GROUPINGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty or tiny groups (e.g. age 1-17) warn; the tables say so too
        result = audit(inputs["recs"], inputs["split"], groups=groups, item_groups=ITEM_GROUPINGS, **opts)
    tables = dict(result.tables)
    tables["rating_groups"], tables["rating_unfairness"] = rating_by_group(inputs["rater"], inputs["split"], groups)
    return tables


def pandas_audit(inputs: dict, opts: dict) -> dict[str, pd.DataFrame]:
    """The baseline's tables (:func:`audit_baseline.baseline_audit`)."""
    return baseline_audit(inputs["recs"], inputs["split"], inputs["rater"].predict, **opts)


def _same(a, b) -> bool:
    missing = (lambda v: v is None or (isinstance(v, float) and np.isnan(v)))
    return (missing(a) and missing(b)) or a == b


def compare(ours: dict[str, pd.DataFrame], theirs: dict[str, pd.DataFrame]) -> dict:
    """Per table: rows, the largest absolute and scaled difference of numeric cells, and every disagreement.

    The scaled difference is ``|a − b| / max(1, |a|)``.

    Disagreements: a missing table or column, another row count, ``nan`` in one
    table only, or a different label.
    """
    out = {}
    for name, a in ours.items():
        b = theirs.get(name)
        if b is None or list(b.columns) != list(a.columns) or len(a) != len(b):
            shape = None if b is None else [list(b.columns), len(b)]
            out[name] = {"rows": len(a), "max_abs_diff": None, "max_scaled_diff": None,
                         "problems": [f"shape/columns differ: {shape}"]}
            continue
        problems, diff, scaled = [], 0.0, 0.0
        for col in a.columns:
            x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
            if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
                xf, yf = x.to_numpy(dtype=np.float64), y.to_numpy(dtype=np.float64)
                if not np.array_equal(np.isnan(xf), np.isnan(yf)):
                    problems.append(f"{col}: nan in one table only")
                ok = ~np.isnan(xf) & ~np.isnan(yf)
                gap = np.abs(xf[ok] - yf[ok])
                diff = max(diff, float(np.max(gap, initial=0.0)))
                scaled = max(scaled, float(np.max(gap / np.maximum(1.0, np.abs(xf[ok])), initial=0.0)))
            elif not all(_same(p, q) for p, q in zip(x, y)):
                problems.append(f"{col}: labels differ")
        out[name] = {"rows": len(a), "max_abs_diff": diff, "max_scaled_diff": scaled, "problems": problems}
    return out


def timed(fn, *args) -> tuple[object, float, float]:
    """``fn(*args)``, its wall seconds and its process CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - t0, time.process_time() - c0


def run(args) -> dict:
    """Build the inputs, time both audits (recfair ``--repeat`` times, best kept) and compare their tables."""
    inputs = make_inputs(args.users, args.items, args.interactions, model=args.model, epochs=args.epochs,
                         seed=args.seed)
    opts = {"k": 10, "n_bootstrap": args.n_bootstrap, "n_permutations": args.n_permutations, "seed": args.seed}
    load_before = os.getloadavg()
    runs = [timed(recfair_audit, inputs, opts) for _ in range(args.repeat)]
    ours = runs[0][0]
    theirs, base_wall, base_cpu = timed(pandas_audit, inputs, opts)
    wall, cpu = min(r[1] for r in runs), min(r[2] for r in runs)
    tables = compare(ours, theirs)
    diffs = [float("inf") if t["max_abs_diff"] is None else t["max_abs_diff"] for t in tables.values()]
    scaled = [float("inf") if t["max_scaled_diff"] is None else t["max_scaled_diff"] for t in tables.values()]
    identical = all(t["problems"] == [] for t in tables.values()) and max(scaled) <= args.tolerance
    split = inputs["split"]
    return {
        "what": "full audit (user 3 attributes + item side + rating unfairness) vs pandas baseline",
        "users": int(split.train.n_users), "items": int(split.train.n_items),
        "train": int(split.train.n_interactions), "test": int(split.test.n_interactions), "k": 10,
        "model": args.model, "n_bootstrap": args.n_bootstrap, "n_permutations": args.n_permutations,
        "recfair_seconds": round(wall, 3), "recfair_cpu_seconds": round(cpu, 3),
        "recfair_seconds_all": [round(r[1], 3) for r in runs],
        "baseline_seconds": round(base_wall, 3), "baseline_cpu_seconds": round(base_cpu, 3),
        "ratio_wall": round(base_wall / wall, 1), "ratio_cpu": round(base_cpu / cpu, 1),
        "max_abs_diff": max(diffs), "max_scaled_diff": max(scaled), "identical": bool(identical), "tables": tables,
        "load_average": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
    }


def main() -> int:
    """Command line: run the comparison and print a summary (or ``--json``); exit 1 unless identical."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=6040)
    p.add_argument("--items", type=int, default=3706)
    p.add_argument("--interactions", type=int, default=1_000_209)
    p.add_argument("--model", choices=("mf", "popularity"), default="mf")
    p.add_argument("--epochs", type=int, default=1, help="MF epochs (the lists only need to be plausible)")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--n-permutations", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3, help="recfair runs (best kept); the baseline runs once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=TOLERANCE)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{res['users']} users × top-10, {res['n_bootstrap']} bootstrap resamples, "
              f"{res['n_permutations']} permutations, 3 user attributes; load average {res['load_average']}")
        print(f"recfair  {res['recfair_seconds']:8.2f} s wall  {res['recfair_cpu_seconds']:8.2f} s CPU")
        print(f"baseline {res['baseline_seconds']:8.2f} s wall  {res['baseline_cpu_seconds']:8.2f} s CPU")
        print(f"ratio    {res['ratio_wall']:8.1f} × wall {res['ratio_cpu']:8.1f} × CPU")
        for name, t in res["tables"].items():
            print(f"  {name:<18} rows {t['rows']:4d}  max |diff| {t['max_abs_diff']:.3g}  scaled "
                  f"{t['max_scaled_diff']:.3g}  {'; '.join(t['problems'])}")
        print(f"identical within {args.tolerance:g}: {res['identical']} (max |diff| {res['max_abs_diff']:.3g}, "
              f"scaled {res['max_scaled_diff']:.3g})")
    return 0 if res["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
