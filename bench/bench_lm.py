"""Large-model recommenders on ML-100K (issue 4).

Sections (all on this machine, numbers printed and optionally written as JSON):

1. **Encoding** the 1,682 item texts with all-MiniLM-L6-v2: ``TextEncoder`` into an
   empty cache vs ``SentenceTransformer.encode`` called directly with the same batch
   size, alternated ``--repeats`` times (median items/s; model loading excluded from
   both); then a fresh ``TextEncoder`` on the filled cache (all hits: the time of the
   whole ``encode`` call, model never loaded).
2. **Reference protocol** (user-temporal, test 0.2, full ranking, all 943 users):
   nDCG@10 / Recall@10 and training time of lm-frozen and lm-hybrid next to
   Popularity, ItemKNN and BPR-MF (default parameters; metrics from
   ``recfair.metrics.evaluate``; mean ± std over ``--seeds``), plus two ablations of
   lm-hybrid (no language model; no history term).
3. **Cold start** (``recfair.models.lm.coldstart``, split seeds ``--cold-seeds``): cold-items (20% of the items held
   out; candidates = held-out items; baseline popularity among new items counted on a
   seeded other half of the test users; everything scored on the evaluated half) and
   cold-users (20% of the users held out, known by profile + first 5 interactions via
   ``observe``; baseline Popularity).  Cold items as a curve (``cold_item_curve``):
   0 (text only) to 100% of the early adopters' interactions given to the baseline and,
   through ``observe``, to every model; plus a text-only popularity predicted from the
   item text (ridge).  Classic models' refusals are shown.
4. **lm-finetune / lm-classifier at ML-100K size**: ``--steps`` mini-batches of one epoch
   are timed and the time of a full epoch (all training interactions) is
   *extrapolated* from the mean step time, plus the time to re-encode the catalogue
   (lm-finetune).  On CUDA too when ``torch.cuda.is_available()``.

5. **Partial fine-tuning** (``finetune-partial``, ``finetune-run``): see ``bench_lm_partial.py``.

Run: nice .venv/bin/python bench/bench_lm.py [--repeats 3] [--steps 4] [--json out.json]
     [--only encode,warm,cold,finetune,finetune-partial,finetune-run] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time

import numpy as np

import bench_lm_partial


def section_encode(args, ds) -> dict:
    from sentence_transformers import SentenceTransformer

    from recfair.data.text import render_items
    from recfair.models.lm.encoder import TextEncoder

    texts = render_items(ds)
    ours, direct = [], []
    enc = TextEncoder(batch_size=args.batch_size, cache_dir=tempfile.mkdtemp())
    st = SentenceTransformer(str(enc.path), device="cpu")
    enc.load_model()
    st.encode(texts[:64], batch_size=args.batch_size)  # warm-up both
    enc._encode_uncached(texts[:64])
    for rep in range(args.repeats):
        # alternate which goes first: a shared machine's load drifts
        for who in (("ours", "direct") if rep % 2 == 0 else ("direct", "ours")):
            if who == "ours":
                e = TextEncoder(batch_size=args.batch_size, cache_dir=tempfile.mkdtemp())
                e._st = enc._st  # same loaded model: loading is not part of the rate
                t0 = time.perf_counter()
                a = e.encode(texts)
                ours.append(len(texts) / (time.perf_counter() - t0))
            else:
                t0 = time.perf_counter()
                b = st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
                direct.append(len(texts) / (time.perf_counter() - t0))
    cache = e.cache_dir
    hit = TextEncoder(batch_size=args.batch_size, cache_dir=cache)
    t0 = time.perf_counter()
    c = hit.encode(texts)
    hit_s = time.perf_counter() - t0
    out = {
        "items": len(texts),
        "recfair_items_per_s": statistics.median(ours),
        "direct_items_per_s": statistics.median(direct),
        "ratio": statistics.median(ours) / statistics.median(direct),
        "best_recfair_items_per_s": max(ours),
        "best_direct_items_per_s": max(direct),
        "best_ratio": max(ours) / max(direct),
        "runs_recfair": ours,
        "runs_direct": direct,
        "max_abs_diff": float(np.abs(a - b).max()),
        "cache_hit_seconds": hit_s,
        "cache_hits": hit.last_stats["hits"],
        "model_loaded_on_hit": hit._st is not None,
        "identical_on_hit": bool(np.array_equal(a, c)),
    }
    print(f"encode {len(texts)} items, batch {args.batch_size}: median recfair {out['recfair_items_per_s']:.0f} vs direct "
          f"sentence-transformers {out['direct_items_per_s']:.0f} items/s (ratio {out['ratio']:.3f}); best of "
          f"{args.repeats}: {out['best_recfair_items_per_s']:.0f} vs {out['best_direct_items_per_s']:.0f} (ratio "
          f"{out['best_ratio']:.3f}); runs {[round(x) for x in ours]} vs {[round(x) for x in direct]}; "
          f"max |diff| {out['max_abs_diff']:.1e}")
    print(f"second run (cache): {hit_s:.3f}s, {out['cache_hits']} hits, model loaded: {out['model_loaded_on_hit']}")
    return out


def _eval(model, split, k=10) -> tuple[float, float]:
    from recfair.metrics import evaluate

    users = np.flatnonzero(split.test.user_counts > 0)
    recs = model.recommend(users, k=k)
    ev = evaluate(recs, split.test, train=split.train, k=k, metrics=["ndcg", "recall"])
    return float(ev.overall[f"ndcg@{k}"]), float(ev.overall[f"recall@{k}"])


WARM_MODELS = [
    ("popularity", {}),
    ("itemknn", {}),
    ("bpr", {}),
    ("lm-frozen", {}),
    ("lm-hybrid", {}),
    # ablations of lm-hybrid: no language model at all / no history term (plain text-anchored BPR-MF)
    ("lm-hybrid", {"text_prior": False}),
    ("lm-hybrid", {"history_window": None}),
]


def section_warm(args, ds) -> list[dict]:
    from recfair.data.split import make_split
    from recfair.models.registry import create_model

    split = make_split(ds, "user-temporal", test_size=0.2)
    rows = []
    for name, extra in WARM_MODELS:
        seeded = name in ("bpr", "lm-frozen", "lm-hybrid")
        label = name + ("" if not extra else " " + json.dumps(extra))
        runs = []
        for seed in (args.seeds if seeded else [args.seeds[0]]):
            model = create_model(name, **({"seed": seed, "progress": False} if seeded else {}), **extra)
            t0 = time.perf_counter()
            model.fit(split.train)
            fit = time.perf_counter() - t0
            runs.append((*_eval(model, split), fit))
        nd, rc, fit = (float(np.mean([r[i] for r in runs])) for i in range(3))
        sd = float(np.std([r[0] for r in runs]))
        rows.append({"model": label, "ndcg@10": nd, "ndcg@10_std": sd, "recall@10": rc, "fit_seconds": fit,
                     "seeds": len(runs), "ndcg@10_runs": [r[0] for r in runs]})
        print(f"{label:40s} nDCG@10 {nd:.4f} (±{sd:.4f}, {len(runs)} seeds)  Recall@10 {rc:.4f}  fit {fit:7.1f}s",
              flush=True)
    return rows


def text_popularity(ds, split, seed: int, ridge: float = 1.0) -> dict:
    """Exploratory text-only baseline: ridge regression from item text embeddings to log(1 + training
    popularity), ranking the new items by predicted popularity (the same list for every evaluated user)."""
    from recfair.data import text as T
    from recfair.metrics.ranking import ndcg
    from recfair.models.lm.coldstart import split_test_users
    from recfair.models.lm.encoder import TextEncoder
    from recfair.recommendations import Recommendations

    x = TextEncoder().encode(T.render_items(ds)).astype(np.float64)
    trained = np.flatnonzero(split.train.item_counts > 0)
    new = np.flatnonzero(split.test.item_counts > 0)
    y = np.log1p(split.train.item_counts[trained])
    mu = x[trained].mean(0)
    a = x[trained] - mu
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ (y - y.mean()))
    pred = (x - mu) @ w
    top = new[np.argsort(-pred[new], kind="stable")][:10]
    evaluated = split_test_users(split.test, seed)[1]
    recs = Recommendations(evaluated.astype(np.int32), np.tile(top, (len(evaluated), 1)).astype(np.int32),
                           np.tile(pred[top], (len(evaluated), 1)).astype(np.float32))
    return {"protocol": "cold-items", "model": "text-popularity (ridge)", "early_share": 0.0, "early_users": 0,
            "ndcg@10": float(np.nanmean(ndcg(recs, split.test, 10))), "status": "ok", "seed": seed}


def section_cold(args, ds) -> list[dict]:
    from recfair.data.split import make_split
    from recfair.models.lm.coldstart import cold_item_curve, evaluate_cold_items, evaluate_cold_users
    from recfair.models.registry import create_model

    def models(names, seed):
        out = {}
        for n in names:
            name, _, extra = n.partition(" ")
            seeded = name in ("bpr", "lm-frozen", "lm-hybrid")
            out[n] = create_model(name, **({"seed": seed, "progress": False} if seeded else {}),
                                  **(json.loads(extra) if extra else {}))
        return out

    def show(table):
        for r in table.to_dict("records"):
            status = "" if r["status"] == "ok" else "  " + r["status"][:100]
            early = "" if r["early_users"] != r["early_users"] else f"{int(r['early_users']):4d}"
            print(f"seed {r['seed']} {r['protocol']:16s} {early:>4s} {r['model']:22s} nDCG@10 {r['ndcg@10']:.4f}  "
                  f"Recall@10 {r['recall@10']:.4f}  users {r['users']}{status}", flush=True)

    rows = []
    shares = [float(x) for x in args.early_shares.split(",")]
    for seed in args.cold_seeds:
        cold_items = make_split(ds, "cold-items", test_size=0.2, seed=seed)
        if args.text_popularity:
            row = text_popularity(ds, cold_items, seed)
            print(f"seed {seed} text-only baseline {row['model']}: nDCG@10 {row['ndcg@10']:.4f}", flush=True)
            rows.append(row)
            if args.text_popularity_only:
                continue
        # classic models refuse new items (fitted once, nothing observed)
        refusals = evaluate_cold_items(models(["bpr", "itemknn", "popularity"], seed), cold_items, seed=seed,
                                       early_share=0.0)
        curve = cold_item_curve(models(["lm-frozen", "lm-hybrid"], seed), cold_items, seed=seed,
                                early_shares=shares)
        users = evaluate_cold_users(models(["lm-frozen", "lm-hybrid", "popularity", "bpr", "itemknn"], seed),
                                    make_split(ds, "cold-users", test_size=0.2, seed=seed, n_history=5))
        for table in (refusals[~refusals.model.str.endswith("new-items")], curve, users):
            table = table.assign(seed=seed)
            show(table)
            rows.extend(table.to_dict("records"))
    import pandas as pd

    ok = pd.DataFrame(rows)
    ok = ok[ok.status == "ok"]
    print(f"\nmean ± std over seeds {args.cold_seeds}:")
    for (protocol, share, model), g in ok.groupby(["protocol", "early_share", "model"], dropna=False, sort=False):
        label = "" if share != share else f"early share {share:.2f}"
        print(f"  {protocol:16s} {label:17s} {model:22s} nDCG@10 {g['ndcg@10'].mean():.4f} ± {g['ndcg@10'].std():.4f} "
              f"(per seed: {' '.join(f'{v:.3f}' for v in g['ndcg@10'])})", flush=True)
    return rows


FINETUNE_CONFIGS = [
    ("lm-finetune", {"encoder_mode": "lora"}),
    ("lm-finetune", {"encoder_mode": "full", "learning_rate": 5e-5}),
    ("lm-classifier", {"encoder_mode": "frozen"}),
    ("lm-classifier", {"encoder_mode": "lora"}),
    ("lm-classifier", {"encoder_mode": "full", "learning_rate": 5e-5}),
]


def section_finetune(args, ds) -> list[dict]:
    import torch

    from recfair.data.split import make_split
    from recfair.models.registry import create_model

    split = make_split(ds, "user-temporal", test_size=0.2)
    n = split.train.n_interactions
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        steps = args.steps if device == "cpu" else max(args.steps, 50)
        for name, params in FINETUNE_CONFIGS:
            model = create_model(name, epochs=1, batch_size=args.ft_batch_size, steps_per_epoch=steps, seed=args.seed,
                                 runtime={"device": device, "progress": False}, **params)
            t0 = time.perf_counter()
            model.fit(split.train)
            total = time.perf_counter() - t0
            rec = model.training_log_[0]
            t0 = time.perf_counter()
            model._refresh()  # the epoch's closing re-encode of the catalogue, timed on its own
            refresh = time.perf_counter() - t0
            per_step = (rec["seconds"] - refresh) / steps
            full_steps = math.ceil(n / args.ft_batch_size)
            epoch = per_step * full_steps + refresh
            label = f"{name} ({params['encoder_mode']})"
            rows.append({"model": label, "device": device, "batch_size": args.ft_batch_size, "steps_timed": steps,
                         "seconds_per_step": per_step, "steps_per_epoch": full_steps, "refresh_seconds": refresh,
                         "epoch_seconds_extrapolated": epoch, "fit_seconds_measured": total})
            print(f"{label:28s} {device}: {per_step:.3f}s/step (batch {args.ft_batch_size}, {steps} steps timed) "
                  f"→ one epoch = {full_steps} steps ≈ {epoch / 60:.1f} min (extrapolated; incl. {refresh:.1f}s "
                  f"catalogue re-encoding)", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="encode,warm,cold,finetune")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    ap.add_argument("--steps", type=int, default=4, help="mini-batches timed per fine-tuning config on CPU")
    ap.add_argument("--ft-batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0, help="seed of the fine-tuning models")
    ap.add_argument("--cold-seeds", default="0,1,2,3,4", help="seeds of the cold-start splits and models")
    ap.add_argument("--text-popularity", action=argparse.BooleanOptionalAction, default=True,
                    help="also rank new items by popularity predicted from their text (ridge regression)")
    ap.add_argument("--text-popularity-only", action="store_true", help="cold section: only that baseline")
    ap.add_argument("--early-shares", default="0,0.05,0.1,0.25,0.5,1",
                    help="shares of the early-adopter half observed (cold-item curve; 0 = text only)")
    ap.add_argument("--seeds", default="0", help="model seeds of the reference-protocol table, e.g. 0,1,2")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    bench_lm_partial.add_arguments(ap)
    args = ap.parse_args()
    bench_lm_partial.parse_arguments(args)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.cold_seeds = [int(s) for s in args.cold_seeds.split(",")]
    import torch

    from recfair.data.loaders import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, CUDA: {torch.cuda.is_available()}")
    ds = load_dataset("ml-100k")
    results = {}
    sections = {"encode": section_encode, "warm": section_warm, "cold": section_cold, "finetune": section_finetune,
                "finetune-partial": bench_lm_partial.section_finetune_partial,
                "finetune-run": bench_lm_partial.section_finetune_run}
    for name in args.only.split(","):
        print(f"\n-- {name}", flush=True)
        t0 = time.perf_counter()
        results[name] = sections[name](args, ds)
        print(f"-- {name} done in {time.perf_counter() - t0:.0f}s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
