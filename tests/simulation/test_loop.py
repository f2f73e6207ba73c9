"""The feedback loop on small synthetic data: known directions, determinism, no leakage, resume after a kill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recfair.models.classic.baselines import PopularityRecommender
from recfair.simulation import SimulationRun
from recfair.simulation.run import run_simulation
from recfair.simulation.world import interaction_round
from recfair.study.store import Store
from tests.simulation.helpers import tiny_config, tiny_data

ROOT = Path(__file__).resolve().parents[2]
KILLER = Path(__file__).with_name("sim_killer.py")


@pytest.fixture(scope="module")
def data():
    """The tiny synthetic data set (shared; never modified)."""
    return tiny_data()


def trajectory(data, model: str, params=None, seed: int = 0, **cfg) -> pd.DataFrame:
    """Wide table round × metric of one run."""
    rows = run_simulation(data, tiny_config(**cfg), SimulationRun(model=model, params=params or {}, seed=seed))
    return rows.pivot(index="round", columns="metric", values="value")


def test_popularity_concentrates_consumption(data):
    wide = trajectory(data, "popularity")
    g = wide["gini_consumption"]
    assert g.iloc[-1] > g.iloc[0] + 0.05
    assert (np.diff(g.to_numpy()) > 0).all()


def test_random_does_not_concentrate_consumption(data):
    g = trajectory(data, "random")["gini_consumption"]
    assert g.iloc[-1] <= g.iloc[0] + 0.01


def test_oracle_homogenises_less_than_mf(data):
    bpr = trajectory(data, "bpr", {"epochs": 5, "embedding_size": 8})
    oracle = trajectory(data, "oracle")
    assert oracle["jaccard_consumed"].iloc[-1] < bpr["jaccard_consumed"].iloc[-1]
    assert (oracle["homogenisation"] == 1.0).all()  # the ideal recommender is its own reference
    assert bpr["homogenisation"].iloc[-1] > 1.0


def test_same_seed_same_trajectory(data):
    a = trajectory(data, "bpr", {"epochs": 3, "embedding_size": 8}, seed=5, rounds=3)
    b = trajectory(data, "bpr", {"epochs": 3, "embedding_size": 8}, seed=5, rounds=3)
    c = trajectory(data, "bpr", {"epochs": 3, "embedding_size": 8}, seed=6, rounds=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


class RecordingPopularity(PopularityRecommender):
    """Popularity that records the latest round of every interaction handed to fit / observe."""

    events: list = []
    base_time = 0

    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "RecordingPopularity":
        self.events.append(("fit", int(interaction_round(train.timestamp, self.base_time).max())))
        return super().fit(train, valid, sample_weight=sample_weight, penalty=penalty)

    def observe(self, interactions) -> "RecordingPopularity":
        self.events.append(("observe", int(interaction_round(interactions.timestamp, self.base_time).max())))
        return self

    def recommend_new_users(self, *args, **kwargs):  # marks it as a model that observes between re-trainings
        raise NotImplementedError


@pytest.mark.parametrize("retrain_every", [1, 2])
def test_no_interaction_from_a_later_round_reaches_the_model(data, retrain_every):
    from recfair.simulation.oracle import fit_oracle
    from recfair.simulation.world import make_world

    cfg = tiny_config(rounds=5, retrain_every=retrain_every)
    oracle = fit_oracle(data, cfg.oracle)
    RecordingPopularity.base_time = make_world(data, oracle, cfg, 0).base_time
    RecordingPopularity.events = events = []
    run_simulation(data, cfg, SimulationRun(model="popularity"), oracle=oracle,
                   model_factory=RecordingPopularity, on_recommend=lambda t: events.append(("recommend", t)))
    seen, checked = -1, 0
    for kind, value in events:
        if kind == "recommend":
            assert seen < value, f"the model had seen round {seen} before recommending round {value}"
            checked += 1
        else:
            seen = max(seen, value)
    assert checked == 5
    kinds = {k for k, _ in events}
    assert ("observe" in kinds) == (retrain_every > 1)
    if retrain_every == 1:  # re-trained every round on everything before it
        fits = [v for k, v in events if k == "fit"]
        assert fits == [0, 1, 2, 3, 4]


def _rounds(out: Path) -> pd.DataFrame:
    with Store(out, read_only=True) as store:
        frame = store.table("rounds")
    return frame.drop(columns="cell_id").sort_values(["round", "metric"]).reset_index(drop=True)


def _run_killer(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(KILLER), str(out), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_killed_simulation_resumes_to_the_same_trajectory(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _run_killer(whole).returncode == 0
    res = _run_killer(killed, "3")
    assert res.returncode == -9, res.stderr
    partial = _rounds(killed)
    assert sorted(partial["round"].unique()) == [1, 2, 3]
    assert _run_killer(killed).returncode == 0
    pd.testing.assert_frame_equal(_rounds(killed), _rounds(whole))
