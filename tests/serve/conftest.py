"""A small served world: a BPR run folder and a study store with two cells, on synthetic data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

SYNTH = {"n_users": 80, "n_items": 60, "n_interactions": 1600, "seed": 0}
SPLIT = {"protocol": "random", "test_size": 0.2}
KEY = "s3cret-token"


def _data():
    from recfair.data import fingerprint, load_dataset, make_split

    ds = load_dataset("synthetic", **SYNTH)
    return ds, make_split(ds, seed=0, **SPLIT), fingerprint(ds)


@pytest.fixture(scope="session")
def world():
    """``(dataset, split, fingerprint)`` of the synthetic data every served folder uses."""
    return _data()


@pytest.fixture(scope="session")
def bpr_run(tmp_path_factory, world):
    """A verified run folder of a small BPR-MF."""
    from recfair.models.registry import create_model
    from recfair.runs import RunConfig, write_run

    ds, split, _ = world
    params = {"embedding_size": 8, "epochs": 3, "seed": 0}
    model = create_model("bpr", runtime={"progress": False}, **params).fit(split.train)
    cfg = RunConfig("bpr", params, "synthetic", protocol="random", seed=0, n_candidates=20, data_options=SYNTH)
    users = np.unique(split.test.user)
    return write_run(tmp_path_factory.mktemp("runs") / "bpr", cfg, model, model.recommend(users, 20), dataset=ds)


def _tables(cell: int) -> dict[str, pd.DataFrame]:
    from recfair.study.schema import CELL_TABLES

    gaps = pd.DataFrame({c: [np.nan] for c, _ in CELL_TABLES["gaps"]}).assign(attribute="gender", metric="ndcg@10")
    return {"overall": pd.DataFrame({"metric": ["ndcg@10", "gini@10"], "value": [0.1 + cell, 0.5]}), "gaps": gaps}


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory, world, bpr_run):
    """A study store with cells ``bpr0`` (the BPR run's model) and ``pop0`` (popularity) and a re-ranked ``post0``."""
    from recfair.models.registry import create_model
    from recfair.study.store import Store

    ds, split, fp = world
    root = tmp_path_factory.mktemp("study")
    config = {"dataset": "synthetic", "data_options": SYNTH, "split": SPLIT, "seed": 0}
    pop = create_model("popularity").fit(split.train)
    with Store(root) as store:
        for i, (cid, model) in enumerate([("bpr0", None), ("pop0", pop)]):
            work = store.staging_dir(cid)
            if model is None:
                shutil.copytree(bpr_run / "model", work / "model")
            else:
                model.save(work / "model")
            row = {"cell_id": cid, "dataset": "synthetic", "fingerprint": fp, "model": "bpr" if i == 0 else "popularity",
                   "mitigation": "none", "seed": 0, "config": json.dumps(config)}
            store.commit_cell(row, _tables(i), work)
        work = store.staging_dir("post0")
        (work / "recommendations.parquet").write_bytes(b"")
        store.commit_cell({"cell_id": "post0", "dataset": "synthetic", "fingerprint": fp, "model": "bpr",
                           "mitigation": "fair", "parent_id": "bpr0", "seed": 0, "config": json.dumps(config)},
                          None, work)
    return root
