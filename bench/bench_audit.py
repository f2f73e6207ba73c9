"""Benchmark the user-side fairness audit (issue 3: "1,000 bootstrap resamples of 6,000 users ×
10 metrics × 3 attributes takes seconds, not minutes").

Two measurements:

1. ``audit_users`` on a per-user table of ``--users`` users × ``--metrics`` metric columns
   (zero-inflated, nDCG-like values; 3% of users with no test items, i.e. NaN) and three
   attributes (gender: 2 groups, age: 7 groups, activity: 2 groups), with ``--n-bootstrap``
   resamples and ``--n-permutations`` permutations.
2. ``audit`` end to end (evaluate + user side + item side) on a synthetic data set with the
   same number of users and a popularity recommender.

Wall time on a shared machine depends on the load; ``cpu_seconds`` (process CPU
time, all threads) is the steadier number.

Usage::

    nice .venv/bin/python bench/bench_audit.py            # defaults: 6000 users, 10 metrics
    nice .venv/bin/python bench/bench_audit.py --users 943 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd


def per_user_table(n_users: int, n_metrics: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hit = rng.random((n_users, n_metrics)) < 0.4
    values = np.where(hit, rng.beta(2, 3, (n_users, n_metrics)), 0.0)
    values[rng.random(n_users) < 0.03] = np.nan
    return pd.DataFrame(values, columns=[f"metric{j}@10" for j in range(n_metrics)],
                        index=pd.Index(np.arange(n_users), name="user"))


def groupings(n_users: int, seed: int):
    from recfair.fairness.groups import AGE_LABELS, Grouping

    rng = np.random.default_rng(seed + 1)
    gender = Grouping.from_codes("gender", ["F", "M"], (rng.random(n_users) < 0.7).astype(int))
    age = Grouping.from_codes("age", AGE_LABELS, rng.choice(7, n_users, p=[.04, .21, .33, .2, .09, .08, .05]))
    activity = Grouping.from_codes("activity", ["top5%", "rest"], (rng.random(n_users) >= 0.05).astype(int))
    return [gender, age, activity]


def bench_user_side(args) -> dict:
    from recfair.fairness.user import audit_users

    table = per_user_table(args.users, args.metrics, args.seed)
    groups = groupings(args.users, args.seed)
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = audit_users(table, groups, n_bootstrap=args.n_bootstrap, n_permutations=args.n_permutations,
                          seed=args.seed)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"what": "audit_users", "users": args.users, "metrics": args.metrics, "attributes": len(groups),
            "n_bootstrap": args.n_bootstrap, "n_permutations": args.n_permutations,
            "seconds_min": round(min(times), 3), "seconds_all": [round(t, 3) for t in times],
            "cpu_seconds_min": round(min(cpu), 3),
            "rows": [len(res.groups), len(res.gaps)]}


def bench_end_to_end(args) -> dict:
    from recfair.data import make_split, make_synthetic
    from recfair.fairness.audit import audit
    from recfair.models.registry import create_model

    ds = make_synthetic(args.users, 1000, args.users * 30, seed=args.seed)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=args.seed)
    recs = create_model("popularity").fit(split.train).recommend(np.unique(split.test.user), 10)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = audit(recs, split, groups="gender,age,activity", k=10, n_bootstrap=args.n_bootstrap,
                    n_permutations=args.n_permutations, seed=args.seed)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"what": "audit (evaluate + user + item side)", "users": res.meta["n_users"],
            "metrics": len(res.meta["metrics"]), "attributes": 3, "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=6000)
    p.add_argument("--metrics", type=int, default=10)
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--n-permutations", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-end-to-end", action="store_true")
    args = p.parse_args()
    out = [bench_user_side(args)]
    if not args.skip_end_to_end:
        out.append(bench_end_to_end(args))
    for row in out:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
