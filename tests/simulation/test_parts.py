"""Parts of the simulator: choice models, config, oracle, content mapping, summaries, warm start, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from recfair.errors import RecfairError
from recfair.simulation import ChoiceConfig, OracleConfig, SimulationConfig
from recfair.simulation.choice import activity_probabilities, choose, organic_choice
from recfair.simulation.mapping import NO_FACTORS, ContentMapping, factor_sides
from recfair.simulation.oracle import PLANTED_NEEDS_SYNTHETIC, fit_oracle
from recfair.simulation.summary import MISSING_COLUMNS, change_table, drift_table
from tests.simulation.helpers import SYN, tiny_config, tiny_data


def slates(n: int = 4000, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Slates of items 0..k-1 for n users, every preference 0.5."""
    return np.tile(np.arange(k), (n, 1)), np.full((n, k), 0.5, np.float32)


def test_rank_decay_accepts_exp_minus_decay_rank_times_preference():
    items, pref = slates()
    acc = choose(ChoiceConfig(), items, pref, np.random.default_rng(0))
    expected = 0.5 * np.exp(-0.1 * np.arange(1, 11))
    np.testing.assert_allclose(acc.mean(0), expected, atol=0.03)


@pytest.mark.parametrize("model", ["cascade", "logit"])
def test_cascade_and_logit_take_at_most_one_item(model):
    items, pref = slates()
    acc = choose(ChoiceConfig(model=model), items, pref, np.random.default_rng(0))
    assert acc.sum(1).max() == 1
    if model == "cascade":  # position bias: the top slot is taken most
        assert acc[:, 0].mean() > acc[:, 1].mean() > acc[:, 5].mean()
    else:  # logit: odds 1 per item, outside weight 1 -> P(nothing) = 1/11
        assert abs((acc.sum(1) == 0).mean() - 1 / 11) < 0.02


def test_empty_slots_are_never_accepted():
    items, pref = slates(100)
    items[:, 3:] = -1
    assert not choose(ChoiceConfig(decay=0.0), items, np.ones_like(pref), np.random.default_rng(0))[:, 3:].any()


def test_organic_choice_skips_seen_and_unreleased_items():
    import scipy.sparse as sp

    pref = np.ones((3, 5), np.float32)
    allowed = np.array([True, True, False, True, True])
    seen = sp.csr_matrix(np.array([[1, 1, 0, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 1, 0]], np.float32))
    picks = organic_choice(pref, allowed, seen, np.random.default_rng(0))
    assert picks[0] == -1 and picks[1] in (1, 3, 4) and picks[2] == 4


def test_activity_probabilities_keep_the_mean_and_order():
    p = activity_probabilities(np.array([1, 2, 4, 100]), 0.5)
    assert abs(p.mean() - 0.5) < 1e-9 and p.max() <= 1 and (np.diff(p) >= 0).all()


def test_config_refuses_unknown_keys():
    with pytest.raises(ValidationError, match="extra"):
        SimulationConfig(round=3)
    with pytest.raises(ValidationError):
        SimulationConfig(choice={"model": "softmax"})


def test_planted_oracle_needs_the_generator_arguments():
    data = tiny_data()
    with pytest.raises(RecfairError) as err:
        fit_oracle(data, OracleConfig(kind="planted"))
    assert str(err.value) == PLANTED_NEEDS_SYNTHETIC.format(n_users=data.n_users, n_items=data.n_items, got={})


def test_mf_oracle_ranks_held_out_interactions_and_is_calibrated():
    oracle = fit_oracle(tiny_data(), OracleConfig(holdout=0.2))
    assert oracle.fit["auc_heldout"] > 0.6
    assert oracle.fit["mean_pref_observed"] > 0.5 > oracle.fit["mean_pref_unobserved"]
    assert oracle.pref.shape == (SYN["n_users"], SYN["n_items"]) and oracle.pref.dtype == np.float32


def test_content_mapping_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    w = rng.standard_normal((6, 3))
    trained = np.arange(300) < 250
    mapping = ContentMapping(reg=1e-3).fit(x, x @ w, trained)
    np.testing.assert_allclose(mapping.predict(np.arange(250, 300)), x[250:] @ w, atol=1e-3)
    user = rng.standard_normal((4, 3)).astype(np.float32)
    scores = mapping.scores(user, np.zeros((4, 300), np.float32), trained)
    assert (scores[:, :250] == 0).all()
    np.testing.assert_allclose(scores[:, 250:], user @ (x[250:] @ w).T, atol=1e-2)


def test_content_mapping_needs_a_factor_model():
    from recfair.models.classic.baselines import PopularityRecommender

    with pytest.raises(RecfairError) as err:
        factor_sides(PopularityRecommender())
    assert str(err.value) == NO_FACTORS.format(name="PopularityRecommender")


def test_drift_table_means_and_intervals_across_seeds():
    rows = pd.DataFrame({"series": "m", "seed": [0, 1, 2, 0, 1, 2], "round": [1, 1, 1, 2, 2, 2],
                         "metric": "gini", "value": [0.1, 0.2, 0.3, 0.3, 0.4, 0.5]})
    table = drift_table(rows)
    assert table["mean"].round(6).tolist() == [0.2, 0.4]
    assert (table["ci_low"] < table["mean"]).all() and (table["n"] == 3).all()
    change = change_table(rows, ["gini"]).iloc[0]
    assert change["change"] == pytest.approx(0.2) and change["ci_high"] - change["ci_low"] < 1e-9
    with pytest.raises(RecfairError) as err:
        drift_table(rows.drop(columns="seed"))
    assert str(err.value) == MISSING_COLUMNS.format(needed=["series", "seed", "round", "metric", "value"],
                                                    got=["series", "round", "metric", "value"])


def test_lm_frozen_warm_start_continues_from_the_current_weights():
    from recfair.models.config import RuntimeOptions
    from recfair.models.registry import create_model

    data = tiny_data()
    model = create_model("lm-frozen", runtime=RuntimeOptions(progress=False, threads=1), epochs=1, n_negatives=32)
    model.fit(data)
    net = model.net_
    model.fit(data)
    assert model.net_ is not net  # a plain re-fit starts afresh
    model.warm_start, net = True, model.net_
    before = net.item_text.weight.detach().clone()
    model.fit(data)
    assert model.net_ is net and not np.allclose(net.item_text.weight.detach().numpy(), before.numpy())


def test_simulate_command_runs_and_resumes(tmp_path):
    from typer.testing import CliRunner

    from recfair.cli import app

    cfg = tmp_path / "sim.toml"
    syn = "{ n_users = 240, n_items = 160, n_interactions = 4000, seed = 1 }"
    cfg.write_text(f"""[study]
seeds = [0]
baseline = "popularity"
[[data]]
name = "synthetic"
options = {syn}
[models.popularity]
[simulation]
rounds = 2
groups = ["gender"]
n_bootstrap = 10
[simulation.oracle]
kind = "planted"
synthetic = {syn}
""")
    out = tmp_path / "out"
    first = CliRunner().invoke(app, ["simulate", str(cfg), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "1 run, 0 already stored" in first.output and "gini_consumption" in first.output
    again = CliRunner().invoke(app, ["simulate", str(cfg), "--out", str(out)])
    assert "0 run, 1 already stored" in again.output


def test_simulate_command_names_a_bad_simulation_key(tmp_path):
    from typer.testing import CliRunner

    from recfair.cli import app

    cfg = tmp_path / "sim.toml"
    cfg.write_text('[[data]]\nname = "synthetic"\n[models.popularity]\n[simulation]\nrounds = 2\nretrain = "often"\n')
    res = CliRunner().invoke(app, ["simulate", str(cfg)])
    assert res.exit_code == 2 and "simulation.retrain" in res.output


def test_tiny_config_is_valid():
    assert tiny_config().rounds == 6
