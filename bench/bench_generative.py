"""Benchmark the built-in generative recommender and the counterfactual probe on ML-100K (issue 5).

Measures:

1. Training time and nDCG@10 / Recall@10 of ``GenerativeRecommender`` on the reference
   protocol (``user-temporal``, test size 0.2, seed 0, full catalogue, training items
   excluded, every user with test items).  Acceptance: nDCG@10 ≥ 0.20 on this CPU in minutes.
2. Time to generate top-10 with constrained decoding for every user, and a check
   that every generated list holds distinct, unseen catalogue items.
3. The user-grounded counterfactual probe (``recfair probe --backend builtin``): SNSR /
   SNSV for gender, age and occupation at K = 20 over every user, plus accuracy of
   the true, neutral and counterfactual profiles.

Wall time on a shared machine depends on the load; ``cpu_seconds`` is the steadier number.

Usage::

    nice .venv/bin/python bench/bench_generative.py                 # defaults (20 epochs)
    nice .venv/bin/python bench/bench_generative.py --epochs 10 --probe-users 200
    nice .venv/bin/python bench/bench_generative.py --item-init --probe-users 100   # lm item embeddings
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=20, help="probe list length")
    ap.add_argument("--probe-users", type=int, default=None, help="probe a sample of users (default: all)")
    ap.add_argument("--decode", choices=("generate", "rank"), default="generate")
    ap.add_argument("--out", default=None, help="write the probe tables here")
    ap.add_argument("--item-init", action="store_true",
                    help="initialise item tokens from all-MiniLM-L6-v2 embeddings of the item texts")
    args = ap.parse_args()

    from recfair.data import load_dataset, make_split
    from recfair.fairness.counterfactual import run_probe
    from recfair.metrics.ranking import ndcg, recall
    from recfair.fairness import probe_targets as T
    from recfair.models.generative.backends import BuiltinBackend
    from recfair.models.generative.builtin import GenerativeRecommender

    t0 = time.perf_counter()
    ds = load_dataset("ml-100k")
    sp = make_split(ds, "user-temporal", test_size=0.2, seed=args.seed)
    load_s = time.perf_counter() - t0

    item_init = None
    if args.item_init:
        import os
        import tempfile

        from safetensors.numpy import save_file

        from recfair.data.text import render_items
        from recfair.models.lm.encoder import TextEncoder

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        emb = TextEncoder().encode(render_items(ds)).astype(np.float32)
        item_init = os.path.join(tempfile.mkdtemp(), "items.safetensors")
        save_file({"item_embeddings": emb}, item_init)
    model = GenerativeRecommender(epochs=args.epochs, seed=args.seed, item_init=item_init,
                                  runtime={"threads": args.threads})
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(sp.train)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0

    users = np.flatnonzero(sp.test.user_counts > 0)
    t0 = time.perf_counter()
    recs = model.recommend(users, k=10)
    rank_s = time.perf_counter() - t0
    acc = {"ndcg@10": float(np.nanmean(ndcg(recs, sp.test, 10))), "recall@10": float(np.nanmean(recall(recs, sp.test, 10)))}

    t0 = time.perf_counter()
    seen = T.seen_items(model.seen_)(users)
    gen = model.generate_ids(model.prompt_ids(users), 10, exclude=seen)
    gen_s = time.perf_counter() - t0
    ok = all(len(set(r.tolist())) == 10 and r.min() >= 0 and not set(r.tolist()) & set(s.tolist())
             for r, s in zip(gen, seen))
    from recfair.recommendations import Recommendations

    grecs = Recommendations(users, gen, np.zeros(gen.shape, np.float32))
    gen_acc = {"ndcg@10": float(np.nanmean(ndcg(grecs, sp.test, 10))), "recall@10": float(np.nanmean(recall(grecs, sp.test, 10)))}

    probe_users = users
    if args.probe_users is not None and args.probe_users < len(users):
        probe_users = np.sort(np.random.default_rng(args.seed).choice(users, args.probe_users, replace=False))
    attrs = T.dataset_attribute_values(ds, ["gender", "age", "occupation"])
    if args.decode == "rank":
        lister = T.ProfileScoreLister(model, args.k)
    else:
        lister = T.PromptLister(BuiltinBackend(model), args.k, T.model_prompts(model), T.seen_items(model.seen_))
    t0 = time.perf_counter()
    res = run_probe(lister, probe_users, attrs, k=args.k, test=sp.test)
    probe_s = time.perf_counter() - t0
    if args.out:
        res.save(args.out)

    report = {
        "load_seconds": round(load_s, 2),
        "item_init": "all-MiniLM-L6-v2" if args.item_init else None,
        "fit_seconds": round(fit_s, 1), "fit_cpu_seconds": round(fit_cpu, 1), "epochs": args.epochs,
        "final_train_loss": round(model.training_log_[-1]["loss"], 4),
        "rank_top10_all_users_seconds": round(rank_s, 3), **{k: round(v, 4) for k, v in acc.items()},
        "generate_top10_all_users_seconds": round(gen_s, 2), "generated_lists_valid": ok,
        **{f"generated_{k}": round(v, 4) for k, v in gen_acc.items()},
        "probe_seconds": round(probe_s, 1), "probe_users": int(len(probe_users)), "probe_k": args.k,
        "probe_decode": args.decode,
    }
    print(json.dumps(report, indent=2))
    att = res.attributes
    print("\nSNSR / SNSV per attribute (reference: neutral profile, K=%d)" % args.k)
    print(att.pivot(index="attribute", columns="measure", values=["snsr", "snsv"]).round(4).to_string())
    acc_t = res.accuracy.set_index(["attribute", "value"])
    print("\naccuracy of true vs neutral vs counterfactual profiles (mean over values):")
    for a in ("gender", "age", "occupation"):
        sub = acc_t.loc[a]
        cf = sub.drop(index="<neutral>")
        print(f"  {a:<10} neutral ndcg@{args.k} {sub.loc['<neutral>', f'ndcg@{args.k}']:.4f}  "
              f"counterfactual values {cf[f'ndcg@{args.k}'].min():.4f}..{cf[f'ndcg@{args.k}'].max():.4f}")
    print(f"  true profile ndcg@{args.k} {acc_t.loc[('(all)', '<true>'), f'ndcg@{args.k}']:.4f}")


if __name__ == "__main__":
    main()
