"""Build a small but real study store for report tests, from recfair's own library functions.

No model is trained: "popularity" ranks by training popularity, "random" by
seeded noise, and "popularity + blend" mixes the two with weight λ — enough to
produce every table the report reads (per-user metrics, groups, gaps, strata,
exposure, comparisons, a probe summary and simulation rounds).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recfair.data.split import split_random
from recfair.data.synthetic import make_synthetic
from recfair.fairness.compare import compare_users, group_labels
from recfair.fairness.groups import parse_groups
from recfair.fairness.strata import activity_strata, gaps_within_strata
from recfair.fairness.user import audit_users
from recfair.metrics import evaluate
from recfair.metrics.beyond import popularity_tiers
from recfair.recommendations import Recommendations
from recfair.study.store import Store

K = 10
GROUPS = "gender,age,activity,gender*age"
SMALL_GROUPS_OK = "ignore"
FAST = {"n_bootstrap": 100, "n_permutations": 200}


def _recs(split, kind: str, lam: float, seed: int) -> Recommendations:
    train = split.train
    users = np.flatnonzero(np.diff(split.test.matrix.indptr) > 0).astype(np.int32)
    pop = np.asarray(train.matrix.sum(axis=0)).ravel()
    pop = pop / pop.max()
    noise = np.random.default_rng(seed).random((users.size, train.n_items))
    scores = {"popularity": pop[None, :] + 0 * noise, "random": noise}.get(kind, (1 - lam) * pop[None, :] + lam * noise)
    scores = scores.copy()
    scores[train.matrix[users].toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K].astype(np.int32)
    return Recommendations(users, top, np.take_along_axis(scores, top, axis=1).astype(np.float32))


def _cell_tables(split, recs: Recommendations, seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    train = split.train
    ev = evaluate(recs, split.test, train=train, k=K)
    per_user = ev.per_user[[f"ndcg@{K}", f"recall@{K}", f"hit@{K}"]]
    groupings = [s.assign(train, "user") for s in parse_groups(GROUPS)]
    audit = audit_users(per_user, groupings, seed=seed, **FAST)
    strata = pd.concat([gaps_within_strata(per_user, g, activity_strata(train), f"ndcg@{K}", n_bootstrap=100)
                        for g in groupings[:2]], ignore_index=True)
    raw = train.user_ids[per_user.index.to_numpy()]
    long = per_user.set_axis(raw).rename_axis("user_id").reset_index().melt("user_id", var_name="metric")
    labels = group_labels(groupings, per_user.index).set_axis(raw).rename_axis("user_id").reset_index()
    exposure = ev.exposure
    tables = {
        "overall": pd.DataFrame({"metric": list(ev.overall), "value": list(ev.overall.values())}),
        "user_metrics": long.assign(k=K),
        "user_groups": labels.melt("user_id", var_name="attribute", value_name="group"),
        "group_metrics": audit.groups, "gaps": audit.gaps, "strata_gaps": strata,
        "item_exposure": pd.DataFrame({"item_id": train.item_ids, "exposure": exposure,
                                       "share": exposure / exposure.sum(), "tier": popularity_tiers(train)}),
    }
    return tables, per_user.set_axis(raw)


def build_study(root: Path, seeds=(0, 1)) -> Path:
    """Write a small study store into ``root`` and return ``root``."""
    ds = make_synthetic(300, 200, 6000, seed=0)
    plan = [("popularity", None, None), ("random", None, None), ("popularity", "blend", 0.2),
            ("popularity", "blend", 0.5)]
    with Store(root) as store, warnings.catch_warnings():
        warnings.simplefilter(SMALL_GROUPS_OK, UserWarning)  # synthetic ages leave the 1-17 bin empty
        store.set_meta("config", {"data": {"name": "synthetic"}, "seeds": list(seeds), "k": K})
        for seed in seeds:
            split = split_random(ds, seed=seed)
            per_users = {}
            for model, mitigation, lam in plan:
                cid = f"{model}-{mitigation or 'none'}-{lam or 0}-s{seed}"
                tables, per_users[cid] = _cell_tables(split, _recs(split, mitigation or model, lam or 0, seed), seed)
                work = store.staging_dir(cid)
                tables["item_exposure"].to_parquet(work / "exposure.parquet")
                cell = {"cell_id": cid, "model": model, "mitigation": mitigation or "none",
                        "mitigation_params": {"lambda": lam} if lam else {}, "seed": seed, "dataset": "synthetic",
                        "fingerprint": "f" * 64, "split": "random", "params": {},
                        "started": f"2025-01-01T00:00:0{seed}", "seconds": {"fit": 0.1, "evaluate": 0.2},
                        "versions": {"recfair": "0.1.0"}}
                store.commit_cell(cell, tables, work)
            base = f"popularity-none-0-s{seed}"
            labels = store.user_groups(base)
            for cid, per_user in per_users.items():
                if cid != base:
                    res = compare_users(per_users[base], per_user, labels, seed=seed, **FAST)
                    store.put_comparison(base, cid, {"comparisons": res.groups, "comparison_gaps": res.gaps})
        probe = pd.DataFrame({"attribute": ["gender", "age"], "measure": ["jaccard", "jaccard"], "snsr": [0.12, 0.05],
                              "snsv": [0.05, 0.02], "n_values": [4, 3], "scale": ["[0, 1]", "[0, 1]"]})
        rounds = pd.DataFrame({"round": [0, 1, 2, 3] * 3, "metric": ["gini_consumption"] * 4 + ["accuracy"] * 4
                               + ["accept_rate"] * 4,  # the last one: a table row, not a chart
                               "value": [0.6, 0.65, 0.7, 0.72, 0.1, 0.09, 0.085, 0.08, 0.5, 0.45, 0.42, 0.4]})
        store.commit_cell({"cell_id": "simulated", "model": "feedback-loop", "seed": 0},
                          {"probe_summary": probe, "rounds": rounds})
    return root

