import numpy as np
import pandas as pd
import pytest

from recfair.errors import RecfairError
from recfair.fairness.groups import Grouping
from recfair.mitigation import make_penalty, make_reranker
from recfair.mitigation.sweep import assess, paired_gap_change, pareto_front, sweep_penalty, sweep_rerank
from recfair.models.classic.mf import BPRRecommender


def test_pareto_front_by_hand():
    df = pd.DataFrame({"acc": [0.30, 0.28, 0.25, 0.29, np.nan], "gap": [0.20, 0.10, 0.05, 0.15, 0.0]})
    # row 3 (0.29, 0.15) is not dominated: nothing has acc ≥ .29 and gap ≤ .15 but row 0 (gap .20)
    np.testing.assert_array_equal(pareto_front(df, ["acc"], ["gap"]), [True, True, True, True, False])
    df.loc[3, "gap"] = 0.25  # now row 0 dominates it
    np.testing.assert_array_equal(pareto_front(df, ["acc"], ["gap"]), [True, True, True, False, False])
    with pytest.raises(RecfairError):
        pareto_front(df)


def test_paired_gap_change_by_hand():
    g = Grouping.from_codes("g", ["a", "b"], [0, 0, 1, 1])
    before = pd.DataFrame({"m": [0.5, 0.5, 0.1, 0.1]})
    after = pd.DataFrame({"m": [0.4, 0.4, 0.2, 0.2]})
    out = paired_gap_change(before, after, g, "m", n_bootstrap=50)
    assert out["before"] == pytest.approx(0.4) and out["after"] == pytest.approx(0.2)
    assert out["change"] == pytest.approx(-0.2)
    assert out["low"] == pytest.approx(-0.2) and out["high"] == pytest.approx(-0.2)  # no within-group spread
    with pytest.raises(RecfairError, match="two-group"):
        paired_gap_change(before, after, Grouping.from_codes("g", ["a", "b", "c"], [0, 1, 2, 2]), "m")


def test_sweep_rerank_rows_and_front(synth_split, synth_candidates):
    df = sweep_rerank(lambda eps: make_reranker("ugf", epsilon=eps, solver="greedy"), [1.0, 0.02, 0.005],
                      synth_candidates, synth_split.train, synth_split.test, user_groups=("group", "activity"),
                      n_bootstrap=50)
    assert list(df["epsilon"]) == [1.0, 0.02, 0.005]
    for col in ("ndcg@10", "aplt@10", "gini@10", "gap_group", "gap_group_low", "gap_activity", "pareto"):
        assert col in df.columns
    # ε = 1 leaves every list as it was: the unconstrained top-10 is the most accurate point
    base, _ = assess(synth_candidates.truncate(10), synth_split.train, synth_split.test, k=10,
                     user_groups=("group",), n_bootstrap=50)
    assert df.loc[0, "ndcg@10"] == pytest.approx(base["ndcg@10"])
    assert df["ndcg@10"].idxmax() == 0 and df.loc[0, "pareto"]
    assert df["pareto"].dtype == bool


def test_sweep_penalty_trains_one_model_per_point(synth_split):
    df = sweep_penalty(lambda: BPRRecommender(embedding_size=8, epochs=3, seed=0, runtime={"progress": False}),
                       lambda lam: make_penalty("group-gap:group", lambda_=lam), [0.0, 2.0], synth_split,
                       user_groups=("group",), n_bootstrap=50)
    assert df.shape[0] == 2 and df.loc[0, "ndcg@10"] != df.loc[1, "ndcg@10"]
