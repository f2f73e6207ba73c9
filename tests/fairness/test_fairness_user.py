import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from recfair.data.split import make_split
from recfair.data.synthetic import make_synthetic
from recfair.errors import RecfairError
from recfair.fairness import user as U
from recfair.fairness.groups import GroupSpec, Grouping
from recfair.fairness.user import USER_GAP_COLUMNS, USER_GROUP_COLUMNS, SmallGroupWarning, audit_users, ugf
from recfair.metrics import evaluate
from recfair.models.registry import create_model


def hand_case():
    """7 users. gender: F = users 0,1,2 · M = 3,4,5 · user 6 unknown.

    ndcg: F 0.2, 0.4, nan (no test items) → mean .3, n 2, 1 missing
          M 0.1, 0.3, 0.8 → mean .4, n 3
    hit:  F 0, 1, nan → .5 · M 1, 1, 1 → 1
    """
    per_user = pd.DataFrame(
        {"ndcg@10": [0.2, 0.4, np.nan, 0.1, 0.3, 0.8, 0.5], "hit@10": [0.0, 1.0, np.nan, 1.0, 1.0, 1.0, 0.0]},
        index=pd.Index(np.arange(7), name="user"),
    )
    gender = Grouping.from_codes("gender", ["F", "M"], [0, 0, 0, 1, 1, 1, -1])
    return per_user, gender


def test_hand_computed_means_gaps_ratios_and_counts():
    per_user, gender = hand_case()
    res = audit_users(per_user, gender, n_bootstrap=500, n_permutations=500, seed=0)
    g = res.groups.set_index(["group", "metric"])
    assert g.loc[("F", "ndcg@10"), "value"] == pytest.approx(0.3)
    assert g.loc[("M", "ndcg@10"), "value"] == pytest.approx(0.4)
    assert g.loc[("F", "ndcg@10"), "n"] == 2 and g.loc[("F", "ndcg@10"), "n_missing"] == 1
    assert g.loc[("M", "hit@10"), "value"] == 1.0
    # a constant group has a degenerate CI
    assert g.loc[("M", "hit@10"), "ci_low"] == g.loc[("M", "hit@10"), "ci_high"] == 1.0
    gaps = res.gaps.set_index("metric")
    assert gaps.loc["ndcg@10", "gap"] == pytest.approx(0.1)
    assert gaps.loc["ndcg@10", "ratio"] == pytest.approx(0.75)
    assert gaps.loc["ndcg@10", "max_group"] == "M" and gaps.loc["ndcg@10", "min_group"] == "F"
    assert gaps.loc["hit@10", "gap"] == pytest.approx(0.5) and gaps.loc["hit@10", "ratio"] == pytest.approx(0.5)
    assert tuple(gaps.loc["ndcg@10", ["n", "n_missing", "n_ungrouped", "n_groups"]]) == (5, 1, 1, 2)
    assert list(res.gaps["metric"]) == ["ndcg@10", "hit@10"]  # the caller's column order
    for p in res.gaps["p_value"]:
        assert 1 / 501 <= p <= 1


def test_two_user_group_ci_is_the_whole_range():
    per_user = pd.DataFrame({"m": [0.0, 1.0, 0.5, 0.5, 0.5]})
    g = Grouping.from_codes("a", ["x", "y"], [0, 0, 1, 1, 1])
    res = audit_users(per_user, g, n_bootstrap=2000, n_permutations=10)
    x = res.groups.iloc[0]
    assert (x["ci_low"], x["ci_high"]) == (0.0, 1.0)  # resampled means 0 / .5 / 1 w.p. 1/4, 1/2, 1/4


def test_small_and_empty_groups_get_nan_bounds_and_a_warning_never_a_crash():
    per_user = pd.DataFrame({"m": [0.1, 0.2, 0.3, 0.9]})
    g = Grouping.from_codes("age", ["a", "b", "c", "d"], [0, 0, 0, 1])  # b has 1 user, c and d none
    with pytest.warns(SmallGroupWarning) as rec:
        res = audit_users(per_user, g, n_bootstrap=50, n_permutations=50)
    messages = {str(w.message) for w in rec}
    assert U.SMALL_GROUP.format(group="b", attribute="age", n=1, metric="m", min=2) in messages
    assert U.SMALL_GROUP.format(group="c", attribute="age", n=0, metric="m", min=2) in messages
    t = res.groups.set_index("group")
    assert list(t.index) == ["a", "b", "c", "d"]  # every group listed, even empty ones
    assert t.loc["b", "value"] == 0.9 and np.isnan(t.loc["b", "ci_low"]) and np.isnan(t.loc["b", "ci_high"])
    assert t.loc["c", "n"] == 0 and np.isnan(t.loc["c", "value"])
    gap = res.gaps.iloc[0]
    assert gap["n_groups"] == 1 and np.isnan(gap["gap"]) and np.isnan(gap["p_value"])
    assert gap["max_group"] is None


def test_gap_only_over_groups_large_enough():
    per_user = pd.DataFrame({"m": [0.1, 0.3, 0.5, 0.7, 5.0]})
    g = Grouping.from_codes("a", ["x", "y", "tiny"], [0, 0, 1, 1, 2])
    with pytest.warns(SmallGroupWarning):
        res = audit_users(per_user, g, n_bootstrap=50, n_permutations=50)
    gap = res.gaps.iloc[0]
    assert gap["gap"] == pytest.approx(0.4) and gap["n_groups"] == 2 and gap["max_group"] == "y"


def test_fixed_schema_for_one_group_many_groups_and_no_rows():
    per_user = pd.DataFrame({"m": np.linspace(0, 1, 30)})
    for k in (1, 2, 10):
        g = Grouping.from_codes("a", [f"g{i}" for i in range(k)], np.arange(30) % k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallGroupWarning)
            res = audit_users(per_user, g, n_bootstrap=20, n_permutations=20)
        assert tuple(res.groups.columns) == USER_GROUP_COLUMNS and len(res.groups) == k
        assert tuple(res.gaps.columns) == USER_GAP_COLUMNS and len(res.gaps) == 1
    res = audit_users(per_user, [], n_bootstrap=20, n_permutations=20)
    assert tuple(res.groups.columns) == USER_GROUP_COLUMNS and res.groups.empty
    assert tuple(res.gaps.columns) == USER_GAP_COLUMNS and res.gaps.empty


def test_tied_group_means_give_zero_gap_ratio_one_and_p_one():
    per_user = pd.DataFrame({"m": [0.2, 0.4, 0.4, 0.2]})
    g = Grouping.from_codes("a", ["x", "y"], [0, 0, 1, 1])
    res = audit_users(per_user, g, n_bootstrap=50, n_permutations=200)
    gap = res.gaps.iloc[0]
    assert gap["gap"] == 0 and gap["ratio"] == 1 and gap["p_value"] == 1


def test_seed_determinism():
    rng = np.random.default_rng(0)
    per_user = pd.DataFrame({"m": rng.random(200)})
    g = Grouping.from_codes("a", ["x", "y", "z"], rng.integers(0, 3, 200))
    a = audit_users(per_user, g, n_bootstrap=200, n_permutations=200, seed=4)
    b = audit_users(per_user, g, n_bootstrap=200, n_permutations=200, seed=4)
    c = audit_users(per_user, g, n_bootstrap=200, n_permutations=200, seed=5)
    pd.testing.assert_frame_equal(a.groups, b.groups)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    assert not a.groups["ci_low"].equals(c.groups["ci_low"])


def test_ugf_hand_computed():
    v = np.array([0.5, 0.3, np.nan, 0.1, 0.2])
    adv = np.array([True, True, True, False, False])
    assert ugf(v, adv) == pytest.approx(0.4 - 0.15)
    assert np.isnan(ugf(v, np.ones(5, bool)))


def test_errors_use_message_constants():
    per_user, gender = hand_case()
    with pytest.raises(RecfairError) as e:
        audit_users(per_user, gender, ["mrr@10"])
    assert str(e.value) == U.UNKNOWN_METRIC.format(metric="mrr@10", columns=["ndcg@10", "hit@10"])
    multi = Grouping("genres", ("a", "b"), np.ones((7, 2), dtype=bool))
    with pytest.raises(RecfairError) as e:
        audit_users(per_user, multi)
    assert str(e.value) == U.NOT_EXCLUSIVE.format(attribute="genres")
    dup = pd.DataFrame({"m": [1.0, 2.0]}, index=[3, 3])
    with pytest.raises(RecfairError, match="duplicate users"):
        audit_users(dup, gender)
    with pytest.raises(RecfairError, match="n_bootstrap"):
        audit_users(per_user, gender, n_bootstrap=0)


# ------------------------------------------------------------- synthetic data
def synthetic_null_p(seed: int, n_permutations: int = 500) -> float:
    """p-value of the nDCG@10 gap between the generator's groups when no gap is planted."""
    ds = make_synthetic(300, 200, 6000, minority_activity=1.0, minority_noise=0.0, seed=seed)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=0)
    recs = create_model("popularity").fit(split.train).recommend(np.unique(split.test.user), 10)
    per_user = evaluate(recs, split.test, train=split.train, k=10, metrics=["ndcg"]).per_user
    res = audit_users(per_user, GroupSpec.categorical("group").assign(split.train),
                      n_bootstrap=10, n_permutations=n_permutations, seed=seed)
    return float(res.gaps["p_value"].iloc[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_gap_on_synthetic_data_is_detected(seed):
    """Minority users have half the activity and half their interactions random: a personalised
    model (item kNN) serves them worse, and the audit must say so."""
    ds = make_synthetic(600, 300, 15000, minority_activity=0.5, minority_noise=0.5, seed=seed)
    split = make_split(ds, "user-temporal", test_size=0.2, seed=0)
    recs = create_model("itemknn").fit(split.train).recommend(np.unique(split.test.user), 10)
    per_user = evaluate(recs, split.test, train=split.train, k=10, metrics=["ndcg", "recall"]).per_user
    res = audit_users(per_user, GroupSpec.categorical("group").assign(split.train), seed=0)
    for _, gap in res.gaps.iterrows():
        assert gap["max_group"] == "majority"
        assert gap["gap_ci_low"] > 0  # the CI of the difference excludes 0
        assert gap["p_value"] < 0.01


def binomial_band(n: int, alpha: float, level: float = 0.999) -> tuple[int, int]:
    tail = (1 - level) / 2
    return int(sps.binom.ppf(tail, n, alpha)), int(sps.binom.isf(tail, n, alpha))


def test_permutation_test_false_positive_rate_small():
    """40 null data sets.  Rejections at α = .05 and at α = .5 must fall in the two-sided 99.9% binomial
    band of a valid test (0–7 and 10–30 of 40): an anti-conservative test fails the first, a test that
    never rejects (e.g. p ≡ 1) fails the second."""
    ps = np.array([synthetic_null_p(s) for s in range(40)])
    for alpha in (0.05, 0.5):
        lo, hi = binomial_band(len(ps), alpha)
        assert lo <= int((ps <= alpha).sum()) <= hi, (alpha, np.sort(ps))
    assert binomial_band(40, 0.5)[0] > 0


@pytest.mark.slow
def test_permutation_test_false_positive_rate_200_seeds():
    ps = np.array([synthetic_null_p(s, n_permutations=2000) for s in range(200)])
    assert 0.02 <= (ps <= 0.05).mean() <= 0.08
