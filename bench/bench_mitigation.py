"""Fairness mitigation on ML-100K: what each mitigation buys and what it costs.

Reference protocol of METRICS.md (user-temporal 0.2 split, full ranking, all test
users).  Three tables:

1. **Ranking models** (BPR-MF and, unless ``--models bpr``, ``lm-frozen``): unmitigated vs
   each pre-processing, in-processing and post-processing mitigation — nDCG@10, gender
   gap (|mean nDCG@10 of M − F|), activity gap (UGF: |top 5% − rest| by training
   interactions), APLT@10, exposure Gini@10, and the gender AUC of a logistic probe on
   the user embeddings (5-fold CV, ``recfair.fairness.leakage``).  Re-rankers take
   each user's top-100 candidates to 10.
2. **MF + Yao & Huang penalties** (gender, squared form, ``--yh-batch`` 16384 so that a
   batch holds many items rated by both groups): RMSE and the five unfairness values on
   the test ratings and on the training ratings, for the user-temporal split and a
   random split (the RecBole-FairRec reference rows in METRICS.md use a random split).
3. **Sweeps** (BPR-MF): the popularity penalty over λ and calibrated UGF over ε, with
   the Pareto front of each.

Timings (seconds) of each fit / re-rank are in every row.

Run: nice .venv/bin/python bench/bench_mitigation.py [--models bpr,lm-frozen] [--lm-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from recfair.data import load_dataset, make_split
from recfair.errors import RecfairError
from recfair.fairness.leakage import leakage_from_embeddings
from recfair.fairness.rating import RATING_UNFAIRNESS, rating_unfairness
from recfair.mitigation import make_penalty, make_reranker, make_reweigher
from recfair.mitigation.sweep import assess
from recfair.models.registry import create_model

GROUPS = ("gender", "activity")
PRE = ["equal-share:gender", "inverse:gender", "upsample:gender", "equal-share:activity"]
IN = [("group-gap:gender", 1.0), ("group-gap:activity", 1.0), ("popularity", 0.05), ("adversarial:gender", 0.1),
      ("adversarial:gender", 1.0)]
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
        model, secs = fit(penalty=make_penalty(spec, lambda_=lam))
        rows.append(row(f"in {spec} λ={lam}", model.recommend(users, k=10), split, model, secs))
    if "user_fields" in create_model(name)._param_names():
        # fairness through unawareness, for comparison with the adversary: gender left out of the profile text
        t = time.perf_counter()
        model = create_model(name, **params, user_fields=("age", "occupation")).fit(split.train)
        rows.append(row("pre profile text without gender", model.recommend(users, k=10), split, model,
                        time.perf_counter() - t))
    cal_cands = None
    for method, opts in POST:
        if method == "ugf-calibrated":
            # calibration needs held-out data that is not the test set: refit on a split with a validation part
            if cal_cands is None:
                t = time.perf_counter()
                m2 = create_model(name, **params).fit(valid_split.train)
                cal_secs = time.perf_counter() - t
                cal_cands = m2.recommend(users, k=100)
                rows.append(row("none, fit without the valid part (base of ugf-calibrated)", cal_cands, valid_split,
                                m2, cal_secs))
            rr = make_reranker("ugf", relevance="calibrated", calibration=valid_split.valid, **opts)
            t = time.perf_counter()
            out = rr.rerank(cal_cands, valid_split.train, 10)
            label = f"post ugf-calibrated epsilon={opts['epsilon']}"
        else:
            rr = make_reranker(method, **opts)
            t = time.perf_counter()
            label = f"post {method} " + " ".join(f"{k}={v}" for k, v in opts.items())
            try:
                out = rr.rerank(cands, split.train, 10)
            except RecfairError as exc:  # e.g. UGF infeasible for this ε
                print(f"  mitigation={label}  FAILED: {exc}", flush=True)
                rows.append({"mitigation": label, "error": str(exc)})
                continue
        extra = {}
        if getattr(rr, "report_", None):
            extra = {"ugf_est_gap_before": rr.report_["gap_before"], "ugf_est_gap_after": rr.report_["gap_after"]}
        ev_split = valid_split if method == "ugf-calibrated" else split
        rows.append(row(label, out, ev_split, None, time.perf_counter() - t, extra))
    return rows


def yao_huang_table(split, seed, lams, batch_size):
    params = dict(seed=seed, batch_size=batch_size, runtime={"progress": False})
    group = (split.train.users["gender"] == "F").to_numpy()
    te, tr = split.test, split.train
    rows = []
    runs = [(None, 0.0)] + [(k, lam) for k in ("value", "absolute", "under", "over", "nonparity") for lam in lams]
    for kind, lam in runs:
        t = time.perf_counter()
        pen = None if kind is None else make_penalty(f"{kind}:gender", lambda_=lam)
        model = create_model("mf", **params).fit(tr, penalty=pen)
        secs = time.perf_counter() - t
        pred = model.predict(te.user, te.item)
        u = rating_unfairness(te.user, te.item, te.rating, pred, group)
        ut = rating_unfairness(tr.user, tr.item, tr.rating, model.predict(tr.user, tr.item), group)
        r = {"penalty": kind or "none", "lambda": lam, "rmse": float(np.sqrt(np.mean((pred - te.rating) ** 2))),
             **{m: u[m] for m in RATING_UNFAIRNESS}, **{f"train_{m}": ut[m] for m in RATING_UNFAIRNESS},
             "seconds": secs}
        print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        rows.append(r)
    return rows


def sweep_tables(split, valid_split, seed):
    """BPR-MF: popularity-penalty λ grid and calibrated-UGF ε grid, with Pareto flags."""
    from recfair.mitigation.sweep import sweep, sweep_penalty

    params = {"seed": seed, "progress": False}
    pop = sweep_penalty(lambda: create_model("bpr", **params), lambda lam: make_penalty("popularity", lambda_=lam),
                        [0.0, 0.01, 0.03, 0.1, 0.3], split, maximize=["ndcg@10", "aplt@10"], minimize=["gini@10"],
                        user_groups=GROUPS, n_bootstrap=200)
    model = create_model("bpr", **params).fit(valid_split.train)
    users = np.flatnonzero((split.test.user_counts > 0) & (split.train.user_counts > 0))
    cands = model.recommend(users, k=100)

    def ugf(eps):
        rr = make_reranker("ugf", epsilon=eps, relevance="calibrated", calibration=valid_split.valid)
        return rr.rerank(cands, valid_split.train, 10)

    ugf_df = sweep([0.1, 0.05, 0.02, 0.01, 0.005, 0.002], ugf, valid_split.train, valid_split.test, param="epsilon",
                   maximize=["ndcg@10"], minimize=["gap_activity"], user_groups=GROUPS, n_bootstrap=200)
    cols = ["ndcg@10", "aplt@10", "gini@10", "gap_gender", "gap_activity", "pareto"]
    print("\n== BPR-MF, popularity penalty sweep (front: max nDCG, max APLT, min Gini) ==")
    print(pop[["lambda", *cols]].round(4).to_string(index=False))
    print("\n== BPR-MF, calibrated UGF ε sweep (front: max nDCG, min activity gap) ==")
    print(ugf_df[["epsilon", *cols]].round(4).to_string(index=False), flush=True)
    return {"popularity": pop.to_dict("records"), "ugf_calibrated": ugf_df.to_dict("records")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="bpr,lm-frozen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-epochs", type=int, default=10)
    ap.add_argument("--yh-lambda", default="1,10,100", help="λ grid for the Yao & Huang table.")
    ap.add_argument("--yh-batch", type=int, default=16384, help="MF batch size for the Yao & Huang table.")
    ap.add_argument("--yh-split", default="user-temporal,random", help="Split protocols for the Yao & Huang table.")
    ap.add_argument("--skip-yh", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true")
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
        save(results, args.out)
    if not args.skip_yh:
        for protocol in [p.strip() for p in args.yh_split.split(",") if p.strip()]:
            sp = split if protocol == "user-temporal" else make_split(ds, protocol, test_size=0.2, seed=args.seed)
            lams = [float(v) for v in args.yh_lambda.split(",")]
            print(f"\n== MF + Yao & Huang penalties (gender, λ in {lams}, squared, batch {args.yh_batch}, "
                  f"{protocol} split) ==", flush=True)
            results[f"mf-yao-huang-{protocol}"] = yao_huang_table(sp, args.seed, lams, args.yh_batch)
            save(results, args.out)
    if not args.skip_sweep:
        results["sweeps"] = sweep_tables(split, valid_split, args.seed)
        save(results, args.out)


def save(results, path) -> None:
    """Write what is done so far (each section as it finishes)."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))


if __name__ == "__main__":
    main()
