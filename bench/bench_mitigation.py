"""Fairness mitigation on ML-100K: what each mitigation buys and what it costs.

Reference protocol of METRICS.md (user-temporal 0.2 split, full ranking, all test
users).  Three tables:

1. **Ranking models** (BPR-MF and, unless ``--models bpr``, ``lm-frozen``): unmitigated vs
   each pre-processing, in-processing and post-processing mitigation — nDCG@10, gender
   gap (|mean nDCG@10 of M − F|), activity gap (UGF: |top 5% − rest| by training
   interactions), APLT@10, exposure Gini@10, and the gender AUC of a logistic probe on
   the user embeddings (5-fold CV, ``recfair.fairness.leakage``).  Re-rankers take
   each user's top-100 candidates to 10.
2. **MF + Yao & Huang penalties** (gender): RMSE and the five unfairness values on the
   test ratings, and the penalty's own target on the training ratings.
3. Timings of each fit / re-rank.

Run: nice .venv/bin/python bench/bench_mitigation.py [--models bpr,lm-frozen] [--lm-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from recfair.data import load_dataset, make_split
from recfair.fairness.leakage import leakage_from_embeddings
from recfair.fairness.rating import RATING_UNFAIRNESS, rating_unfairness
from recfair.mitigation import make_penalty, make_reranker, make_reweigher
from recfair.mitigation.sweep import assess
from recfair.models.registry import create_model

GROUPS = ("gender", "activity")
PRE = ["equal-share:gender", "inverse:gender", "upsample:gender", "equal-share:activity"]
IN = [("group-gap:gender", 1.0), ("group-gap:activity", 1.0), ("popularity", 0.05), ("adversarial:gender", 0.1)]
POST = [("ugf", {"epsilon": 0.01}), ("ugf", {"epsilon": 0.01, "solver": "greedy"}),
        ("ugf-calibrated", {"epsilon": 0.01}), ("fair", {"p": 0.5}), ("prefix", {"target": 0.3}),
        ("calibrated", {"lambda_": 0.5})]


def user_vectors(model) -> np.ndarray | None:
    """User representations the probe reads: factors (MF/BPR) or the user tower's output (LM)."""
    if hasattr(model, "user_factors_"):
        return model.user_factors_
    if hasattr(model, "user_vectors"):
        return model.user_vectors(np.arange(model.n_users_))
    return None


def probe(model, train) -> float:
    emb = user_vectors(model)
    if emb is None:
        return float("nan")
    users = np.flatnonzero(train.user_counts > 0)
    return leakage_from_embeddings(emb[users], train, "gender", users=users).value


def row(label, recs, split, model=None, seconds=float("nan"), extra=None):
    r, _ = assess(recs.truncate(10), split.train, split.test, k=10, user_groups=GROUPS, n_bootstrap=500)
    out = {"mitigation": label, "ndcg@10": r["ndcg@10"], "gap_gender": r["gap_gender"],
           "gap_activity": r["gap_activity"], "aplt@10": r["aplt@10"], "gini@10": r["gini@10"],
           "auc_gender": probe(model, split.train) if model is not None else float("nan"), "seconds": seconds}
    out.update(extra or {})
    print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()), flush=True)
    return out


def ranking_table(name, params, split, valid_split, seed):
    users = np.flatnonzero((split.test.user_counts > 0) & (split.train.user_counts > 0))
    rows = []

    def fit(**kw):
        t = time.perf_counter()
        model = create_model(name, **params).fit(split.train, **kw)
        return model, time.perf_counter() - t

    base, secs = fit()
    cands = base.recommend(users, k=100)
    rows.append(row("none", cands, split, base, secs))
    for spec in PRE:
        train, sw = make_reweigher(spec, **({"seed": seed} if spec.startswith("upsample") else {})).apply(split.train)
        model, secs = fit(sample_weight=sw)
        rows.append(row(f"pre {spec}", model.recommend(users, k=10), split, model, secs))
    for spec, lam in IN:
        model, secs = fit(penalty=make_penalty(spec, weight=lam))
        rows.append(row(f"in {spec} λ={lam}", model.recommend(users, k=10), split, model, secs))
    cal_cands = None
    for method, opts in POST:
        if method == "ugf-calibrated":
            # calibration needs held-out data that is not the test set: refit on a split with a validation part
            if cal_cands is None:
                t = time.perf_counter()
                m2 = create_model(name, **params).fit(valid_split.train)
                cal_secs = time.perf_counter() - t
                cal_cands = m2.recommend(users, k=100)
            rr = make_reranker("ugf", relevance="calibrated", calibration=valid_split.valid, **opts)
            t = time.perf_counter()
            out = rr.rerank(cal_cands, valid_split.train, 10)
            label = f"post ugf-calibrated ε={opts['epsilon']} (model fit without the valid part, {cal_secs:.0f}s)"
        else:
            rr = make_reranker(method, **opts)
            t = time.perf_counter()
            out = rr.rerank(cands, split.train, 10)
            label = f"post {method} " + " ".join(f"{k}={v}" for k, v in opts.items())
        extra = {}
        if getattr(rr, "report_", None):
            extra = {"ugf_est_gap_before": rr.report_["gap_before"], "ugf_est_gap_after": rr.report_["gap_after"]}
        rows.append(row(label, out, split, None, time.perf_counter() - t, extra))
    return rows


def yao_huang_table(split, seed, lam):
    params = dict(seed=seed, progress=False)
    group = (split.train.users["gender"] == "F").to_numpy()
    te, tr = split.test, split.train
    rows = []
    for kind in [None, "value", "absolute", "under", "over", "nonparity"]:
        t = time.perf_counter()
        pen = None if kind is None else make_penalty(f"{kind}:gender", weight=lam)
        model = create_model("mf", **params).fit(tr, penalty=pen)
        secs = time.perf_counter() - t
        pred = model.predict(te.user, te.item)
        u = rating_unfairness(te.user, te.item, te.rating, pred, group)
        ut = rating_unfairness(tr.user, tr.item, tr.rating, model.predict(tr.user, tr.item), group)
        key = None if kind is None else ("non_parity" if kind == "nonparity" else kind)
        r = {"penalty": kind or "none", "rmse": float(np.sqrt(np.mean((pred - te.rating) ** 2))),
             **{m: u[m] for m in RATING_UNFAIRNESS}, "own_target_train": ut[key] if key else float("nan"),
             "seconds": secs}
        print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        rows.append(r)
    base_train = rating_unfairness(tr.user, tr.item, tr.rating,
                                   create_model("mf", **params).fit(tr).predict(tr.user, tr.item), group)
    for r in rows[1:]:
        key = "non_parity" if r["penalty"] == "nonparity" else r["penalty"]
        r["own_target_train_none"] = base_train[key]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="bpr,lm-frozen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-epochs", type=int, default=10)
    ap.add_argument("--yh-lambda", type=float, default=1.0)
    ap.add_argument("--skip-yh", action="store_true")
    ap.add_argument("--out", default=None, help="Write all rows as JSON here.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("ml-100k")
    split = make_split(ds, "user-temporal", test_size=0.2, seed=args.seed)
    valid_split = make_split(ds, "user-temporal", test_size=0.2, valid_size=0.1, seed=args.seed)
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        params = {"seed": args.seed, "progress": False}
        if name.startswith("lm"):
            params["epochs"] = args.lm_epochs
        print(f"\n== {name} on ML-100K (user-temporal 0.2, seed {args.seed}) ==", flush=True)
        results[name] = ranking_table(name, params, split, valid_split, args.seed)
    if not args.skip_yh:
        print(f"\n== MF + Yao & Huang penalties (gender, λ = {args.yh_lambda}) ==", flush=True)
        results["mf-yao-huang"] = yao_huang_table(split, args.seed, args.yh_lambda)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
