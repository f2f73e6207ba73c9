"""Partial fine-tuning of ``lm-finetune`` on ML-100K (issue 15, item 5): sections of ``bench_lm.py``.

``finetune-partial``:

1. **Encoding rate** of all-MiniLM-L6-v2 by batch size (``--encode-batches``) on the
   first ``--encode-items`` item texts and on sampled user texts of the reference split:
   the whole encoder (no cache), then the partial tower (top 1 layer) building its
   lower-layer cache (cold) and reading it (warm: only the top layer runs).
2. **Step and epoch times** of each fine-tuning mode (:data:`PARTIAL_MODES`): one fit of
   ``--steps`` mini-batches into an empty lower-layer cache (cold), one more on the filled
   cache (warm; the item catalogue's states are computed before both).  An epoch
   (every training interaction once) is *extrapolated* from the mean step time like the
   ``finetune`` section: first epoch from the cold steps, later epochs from the warm steps,
   plus the closing catalogue re-encoding; an item table refreshed every ``n`` steps is
   counted as ``1/n`` of a catalogue encoding per step (table and closing encodings are timed inside the fit).

``finetune-run``: one fit of ``--run-mode`` for ``--run-epochs`` epochs on the reference
protocol (user-temporal 0.2, seed 0), nDCG@10 / Recall@10 over all test users.

The load average (``os.getloadavg``) is printed next to every timing: the machine is shared.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

#: label → lm-finetune parameters (learning rates: 5e-5 for whole-weight training, LoRA's default)
PARTIAL_MODES = {
    "full": {"encoder_mode": "full", "learning_rate": 5e-5},
    "lora": {"encoder_mode": "lora"},
    "top-2 full, no cache": {"encoder_mode": "full", "train_layers": 2, "cache_lower": False, "learning_rate": 1e-4},
    "top-1 full, no cache": {"encoder_mode": "full", "train_layers": 1, "cache_lower": False, "learning_rate": 1e-4},
    "top-2 full, cached": {"encoder_mode": "full", "train_layers": 2, "learning_rate": 1e-4},
    "top-1 full, cached": {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-4},
    "top-1 lora, cached": {"encoder_mode": "lora", "train_layers": 1},
    "top-1 full, cached, items/100": {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-4,
                                      "item_refresh_every": 100, "negatives": "all"},
    "top-1 full, cached, items/100, window 8": {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-4,
                                                "item_refresh_every": 100, "negatives": "all", "user_window": 8},
    "top-2 full, cached, items/100, window 8": {"encoder_mode": "full", "train_layers": 2, "learning_rate": 1e-4,
                                                "item_refresh_every": 100, "negatives": "all", "user_window": 8},
    "top-1 full, cached, items/100, window 8, ids+bias, decay": {
        "encoder_mode": "full", "train_layers": 1, "learning_rate": 2e-4, "lr_decay": True, "item_refresh_every": 100,
        "negatives": "all", "user_window": 8, "use_item_ids": True, "item_bias": True},
    "top-1 full, cached, items/100, window 8, ids+bias": {
        "encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-4, "item_refresh_every": 100,
        "negatives": "all", "user_window": 8, "use_item_ids": True, "item_bias": True},
}


def load() -> str:
    """The 1-minute load average, for printing next to a timing."""
    return f"load {os.getloadavg()[0]:.1f}"


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def _user_texts(split, n: int, seed: int) -> list[str]:
    from recfair.models.lm.history import time_ordered_rows
    from recfair.models.registry import create_model

    model = create_model("lm-finetune", runtime={"progress": False})
    model._start_lm_fit(split.train)
    indptr, items, ranks = time_ordered_rows(split.train)
    idx = np.random.default_rng(seed).choice(split.train.n_interactions, n, replace=False)
    return model._prefix_texts((indptr, items), split.train.user.astype(np.int64)[idx], ranks[idx])


def encode_rates(args, ds, split) -> list[dict]:
    """Items/s of the whole encoder vs the top-1 partial tower (cold and warm lower-layer cache)."""
    from recfair.data.text import render_items
    from recfair.models.lm.hf import TextTower

    whole = TextTower(None, "frozen")
    sets = {"item": render_items(ds)[: args.encode_items], "user": _user_texts(split, args.encode_users, args.seed)}
    rows = []
    for kind, texts in sets.items():
        for bs in args.encode_batches:
            os.environ["RECFAIR_CACHE"] = tempfile.mkdtemp(prefix="bench-partial-")
            part = TextTower(None, "full", train_layers=1, cache_lower=True)
            row = {"texts": kind, "n": len(texts), "batch_size": bs,
                   "no_cache": _rate(lambda: whole.encode(texts, bs), len(texts)),
                   "cache_cold": _rate(lambda: (part.cache.lookup(texts, bs), part.encode(texts, bs)), len(texts)),
                   "cache_warm": _rate(lambda: part.encode(texts, bs), len(texts)), "load": os.getloadavg()[0]}
            rows.append(row)
            print(f"encode {len(texts)} {kind} texts, batch {bs:3d}: whole encoder {row['no_cache']:6.1f}/s, "
                  f"top-1 with lower-layer cache cold {row['cache_cold']:6.1f}/s, warm {row['cache_warm']:7.1f}/s "
                  f"({load()})", flush=True)
    return rows


def _fit_seconds(model, split) -> tuple[float, float]:
    """Seconds of the fit's timed steps (less item-table encodings) and of its closing catalogue encoding."""
    refresh, inner = [], model._refresh

    def timed() -> None:
        t0 = time.perf_counter()
        inner()
        refresh.append(time.perf_counter() - t0)

    model._refresh = timed  # the epoch's closing catalogue encoding, timed inside the fit
    model.fit(split.train)
    return float(model.training_log_[0]["seconds"]) - model.item_table_seconds_ - refresh[0], refresh[0]


def step_times(args, ds, split) -> list[dict]:
    """Cold- and warm-cache step times per mode, epochs extrapolated (see the module docstring)."""
    from recfair.models.registry import create_model

    n, steps, bs = split.train.n_interactions, args.steps, args.ft_batch_size
    full_steps = math.ceil(n / bs)
    rows = []
    for label, params in PARTIAL_MODES.items():
        if args.modes and label not in args.modes:
            continue
        os.environ["RECFAIR_CACHE"] = tempfile.mkdtemp(prefix="bench-partial-")

        def make():
            return create_model("lm-finetune", epochs=1, batch_size=bs, steps_per_epoch=steps, seed=args.seed,
                                runtime={"progress": False}, **params)

        cached = params.get("train_layers") is not None and params.get("cache_lower", True)
        model = make()
        if cached:  # the catalogue's states first: the cold fit then measures user texts only
            model._start_lm_fit(split.train)
            model._build_tower().cache.lookup(model.item_texts_)
        cold, refresh = _fit_seconds(model, split)
        warm, refresh = _fit_seconds(make(), split) if cached else (cold, refresh)
        every = params.get("item_refresh_every", 1)
        extra = refresh / every if (every > 1 or params.get("negatives") == "all") else 0.0
        cold_step, warm_step = cold / steps + extra, warm / steps + extra
        row = {"mode": label, "params": params, "batch_size": bs, "steps_timed": steps, "steps_per_epoch": full_steps,
               "seconds_per_step_cold": cold_step, "seconds_per_step_warm": warm_step, "refresh_seconds": refresh,
               "epoch1_minutes": (cold_step * full_steps + refresh) / 60,
               "epoch_minutes": (warm_step * full_steps + refresh) / 60, "load": os.getloadavg()[0]}
        rows.append(row)
        print(f"{label:42s} {cold_step:6.2f} s/step cold, {warm_step:6.2f} warm (batch {bs}, {steps} timed) → "
              f"epoch 1 ≈ {row['epoch1_minutes']:6.1f} min, later epochs ≈ {row['epoch_minutes']:6.1f} min "
              f"(catalogue {refresh:.1f}s; {load()})", flush=True)
    return rows


def section_finetune_partial(args, ds) -> dict:
    """Encoding rates and per-mode step / epoch times (``--only finetune-partial``)."""
    from recfair.data.split import make_split

    split = make_split(ds, "user-temporal", test_size=0.2)
    old = os.environ.get("RECFAIR_CACHE")
    try:
        enc = encode_rates(args, ds, split) if args.encode_batches else []
        return {"encode": enc, "steps": step_times(args, ds, split)}
    finally:
        if old is None:
            os.environ.pop("RECFAIR_CACHE", None)
        else:
            os.environ["RECFAIR_CACHE"] = old


def section_finetune_run(args, ds) -> dict:
    """One full training run of ``--run-mode`` on the reference protocol (``--only finetune-run``)."""
    import json

    from recfair.data.split import make_split
    from recfair.metrics import evaluate
    from recfair.models.registry import create_model

    split = make_split(ds, "user-temporal", test_size=0.2, seed=0)
    params = {**PARTIAL_MODES[args.run_mode], **json.loads(args.run_params)}
    runtime = {"progress": True, "checkpoint_dir": args.run_checkpoints}
    model = create_model("lm-finetune", epochs=args.run_epochs, batch_size=args.ft_batch_size, seed=args.seed,
                         runtime=runtime, **params)
    t0 = time.perf_counter()
    model.fit(split.train)
    fit = time.perf_counter() - t0
    users = np.flatnonzero(split.test.user_counts > 0)

    def quality(m) -> dict:
        ev = evaluate(m.recommend(users, k=10), split.test, train=split.train, k=10, metrics=["ndcg", "recall"])
        return {"ndcg@10": float(ev.overall["ndcg@10"]), "recall@10": float(ev.overall["recall@10"])}

    out = {"mode": args.run_mode, "params": params, "epochs": [dict(r) for r in model.training_log_],
           "fit_seconds": fit, **quality(model)}
    print(f"{args.run_mode} {params}: fit {fit / 60:.1f} min over {len(out['epochs'])} epochs "
          f"({[round(r['seconds'] / 60, 1) for r in out['epochs']]} min), nDCG@10 {out['ndcg@10']:.4f}, "
          f"Recall@10 {out['recall@10']:.4f} ({load()})", flush=True)
    if args.run_checkpoints:  # test quality after every epoch (a curve to read, not a model selection)
        from recfair.models.base import Recommender

        for row in out["epochs"]:
            row.update(quality(Recommender.load(Path(args.run_checkpoints) / f"epoch-{row['epoch']:03d}")))
            print(f"  epoch {row['epoch']}: nDCG@10 {row['ndcg@10']:.4f} ({row['seconds'] / 60:.1f} min)", flush=True)
    return out


def add_arguments(ap) -> None:
    """The options of the partial fine-tuning sections."""
    ap.add_argument("--encode-batches", default="8,32,128", help="encoding batch sizes ('' skips the encoding part)")
    ap.add_argument("--encode-items", type=int, default=512, help="item texts encoded per batch size")
    ap.add_argument("--encode-users", type=int, default=128, help="sampled user texts encoded per batch size")
    ap.add_argument("--modes", default="", help="';'-separated labels of PARTIAL_MODES to time (default: all)")
    ap.add_argument("--run-mode", default="top-1 full, cached, items/100, window 8")
    ap.add_argument("--run-params", default="{}", help="JSON overrides of the run mode's parameters")
    ap.add_argument("--run-epochs", type=int, default=1)
    ap.add_argument("--run-checkpoints", default=None,
                    help="finetune-run: save the model after every epoch here and report each epoch's test nDCG@10")


def parse_arguments(args) -> None:
    """Turn the comma / semicolon lists into Python lists (in place)."""
    args.encode_batches = [int(b) for b in args.encode_batches.split(",") if b]
    args.modes = [m.strip() for m in args.modes.split(";") if m.strip()]
