"""Reproduce the phase-1 reference numbers (issue 10: "numbers must not move").

Reference protocol: ML-100K, ``make_split(ds, "user-temporal", test_size=0.2, seed=0)``,
full ranking with training items excluded, nDCG@10 over the test users via
``recfair.metrics.evaluate``; every model with its default parameters, seed 0 and one
torch thread.  Phase-1 values: BPR-MF .1948, ItemKNN .1948, lm-frozen .2297,
lm-hybrid .2624, built-in generative .2363 (each must stay within ±.002).

Run: nice .venv/bin/python bench/reproduce_phase1.py [--only bpr,itemknn,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

PHASE1 = {"bpr": 0.1948, "itemknn": 0.1948, "lm-frozen": 0.2297, "lm-hybrid": 0.2624, "generative": 0.2363}
TOLERANCE = 0.002


def make(name: str):
    """The registered model ``name`` with its defaults, seed 0 and one torch thread."""
    from recfair.models.registry import create_model

    if name == "itemknn":
        return create_model(name)
    try:
        from recfair.models.config import RuntimeOptions
    except ImportError:  # before typed configs: threads was a hyper-parameter
        key = "n_threads" if name == "generative" else "threads"
        return create_model(name, seed=0, **{key: 1})
    return create_model(name, seed=0, runtime=RuntimeOptions(threads=1, progress=False))


def measure(name: str, split, dump: str | None = None) -> dict:
    """Fit ``name`` on the training split and return its nDCG@10 and fit seconds."""
    from recfair.metrics import evaluate

    model = make(name)
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    recs = model.recommend(split.test.active_users, k=10)
    if dump:
        np.savez(os.path.join(dump, f"{name}.npz"), items=recs.items, scores=recs.scores)
    ndcg = float(evaluate(recs, split.test, train=split.train, k=10).overall["ndcg@10"])
    return {"ndcg@10": ndcg, "fit_seconds": fit_s, "phase1": PHASE1[name],
            "ok": abs(ndcg - PHASE1[name]) <= TOLERANCE}


def main() -> None:
    """Print one line per model: nDCG@10, the phase-1 value, the difference and fit time."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(PHASE1), help="comma-separated model names")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--dump", default=None, help="write each model's top-10 lists here (to compare runs exactly)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from recfair.data import load_dataset, make_split

    split = make_split(load_dataset("ml-100k"), "user-temporal", test_size=0.2, seed=0)
    out = {}
    for name in args.only.split(","):
        r = out[name] = measure(name, split, args.dump)
        print(f"{name:<11} nDCG@10 {r['ndcg@10']:.4f}  phase-1 {r['phase1']:.4f}  "
              f"diff {r['ndcg@10'] - r['phase1']:+.4f}  {'ok' if r['ok'] else 'MOVED'}  "
              f"fit {r['fit_seconds']:.1f}s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    bad = [n for n, r in out.items() if not r["ok"]]
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
