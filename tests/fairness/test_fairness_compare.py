"""Who gains, who loses: known answers for compare_users, paired tests and strata gaps."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from recfair.errors import RecfairError
from recfair.fairness.compare import (
    BAD_USERS,
    COMPARE_GAP_COLUMNS,
    COMPARE_GROUP_COLUMNS,
    NO_METRICS,
    NOT_PAIRED,
    compare_users,
    group_labels,
    metric_direction,
)
from recfair.fairness.groups import Grouping
from recfair.fairness.paired import TOO_MANY_FOR_EXACT, sign_flip_exact, sign_flip_test, wilcoxon_test
from recfair.fairness.strata import STRATA_COLUMNS, activity_strata, gaps_within_strata
from recfair.fairness.stats import rng_for
from recfair.fairness.user import SmallGroupWarning

A = pd.DataFrame({"ndcg@10": [0.2, 0.4, 0.1, 0.3], "recall@10": [0.5, 0.5, 0.0, 1.0]})
B = pd.DataFrame({"ndcg@10": [0.3, 0.5, 0.1, 0.2], "recall@10": [0.5, 1.0, 0.5, 0.5]})
GENDER = Grouping.from_codes("gender", ["F", "M"], [0, 0, 1, 1])


def row(frame: pd.DataFrame, **keys) -> pd.Series:
    sel = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        sel &= (frame[k] == v).to_numpy()
    assert sel.sum() == 1, keys
    return frame[sel].iloc[0]


# ------------------------------------------------------------- hand-computed
def test_hand_computed_means_shares_and_exact_p():
    res = compare_users(A, B, GENDER, n_bootstrap=200, n_permutations=200)
    assert list(res.groups.columns) == list(COMPARE_GROUP_COLUMNS)
    assert list(res.gaps.columns) == list(COMPARE_GAP_COLUMNS)
    f = row(res.groups, attribute="gender", group="F", metric="ndcg@10")
    assert (f["mean_a"], f["mean_b"], f["delta"]) == pytest.approx((0.3, 0.4, 0.1))
    assert (f["share_worse"], f["share_better"], f["share_same"]) == (0.0, 1.0, 0.0)
    assert f["p_sign_flip"] == pytest.approx(0.5)  # n=2, 4 sign vectors, 2 reach |0.2|
    m = row(res.groups, attribute="gender", group="M", metric="ndcg@10")
    assert m["delta"] == pytest.approx(-0.05)
    assert (m["share_worse"], m["share_better"], m["share_same"]) == (0.5, 0.0, 0.5)
    everyone = row(res.groups, attribute="all", group="all", metric="recall@10")
    assert everyone["delta"] == pytest.approx(0.125) and everyone["n"] == 4
    assert everyone["share_worse"] == 0.25 and everyone["share_better"] == 0.5
    gap = row(res.gaps, attribute="gender", metric="ndcg@10")
    assert (gap["high_group"], gap["low_group"]) == ("F", "M")
    assert (gap["gap_a"], gap["gap_b"], gap["change"]) == pytest.approx((0.1, 0.25, 0.15))
    assert gap["n"] == 4 and 0 < gap["p_value"] <= 1


def test_row_order_and_dtypes_fixed():
    res = compare_users(A, B, GENDER, n_bootstrap=20, n_permutations=20)
    assert res.groups[["attribute", "group", "metric"]].values.tolist() == [
        ["all", "all", "ndcg@10"], ["all", "all", "recall@10"],
        ["gender", "F", "ndcg@10"], ["gender", "M", "ndcg@10"],
        ["gender", "F", "recall@10"], ["gender", "M", "recall@10"],
    ]
    assert res.groups["n"].dtype == np.int64 and res.gaps["n"].dtype == np.int64
    assert res.groups["delta"].dtype == np.float64


def test_no_groupings_empty_groups_and_all_nan_keep_columns():
    res = compare_users(A, B, n_bootstrap=20, n_permutations=20)
    assert list(res.gaps.columns) == list(COMPARE_GAP_COLUMNS) and len(res.gaps) == 0
    assert res.groups["attribute"].tolist() == ["all", "all"]
    three = Grouping.from_codes("age", ["young", "mid", "old"], [0, 0, 1, 1])  # "old" is empty
    a = A.assign(**{"ndcg@10": np.nan})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallGroupWarning)
        res = compare_users(a, B, three, metrics=["ndcg@10"], n_bootstrap=20, n_permutations=20)
    assert list(res.groups.columns) == list(COMPARE_GROUP_COLUMNS)
    assert (res.groups["n"] == 0).all() and res.groups["delta"].isna().all()
    assert res.gaps["change"].isna().all() and res.gaps["n"].tolist() == [0]


def test_unpaired_users_error_and_common_mode():
    b = B.set_axis([0, 1, 2, 7])
    with pytest.raises(RecfairError) as info:
        compare_users(A, b)
    assert str(info.value) == NOT_PAIRED.format(n_a_only=1, n_b_only=1, example_a=3, example_b=7)
    res = compare_users(A, b, users="common", n_bootstrap=20, n_permutations=20)
    assert row(res.groups, attribute="all", metric="ndcg@10")["n"] == 3
    with pytest.raises(RecfairError) as info:
        compare_users(A, B, users="some")
    assert str(info.value) == BAD_USERS.format(value="some")
    with pytest.raises(RecfairError) as info:
        compare_users(A.rename(columns=str.upper), B.rename(columns=str.upper))
    assert str(info.value) == NO_METRICS


def test_lower_is_better_metric_counts_increase_as_worse():
    assert (metric_direction("ndcg@10"), metric_direction("user_rmse"), metric_direction("arp@10")) == (1, -1, 0)
    a = pd.DataFrame({"user_rmse": [1.0, 1.0, 1.0], "arp@10": [1.0, 2.0, 3.0]})
    b = pd.DataFrame({"user_rmse": [1.5, 0.5, 1.0], "arp@10": [2.0, 2.0, 2.0]})
    res = compare_users(a, b, metrics=["user_rmse", "arp@10"], n_bootstrap=20, n_permutations=20)
    rmse = row(res.groups, metric="user_rmse")
    assert (rmse["share_worse"], rmse["share_better"], rmse["share_same"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert np.isnan(row(res.groups, metric="arp@10")["share_worse"])


def test_label_table_gives_the_same_numbers_as_groupings():
    per_a = A.set_axis(pd.Index([0, 1, 2, 3], name="user"))
    labels = group_labels(GENDER, per_a.index)
    assert labels["gender"].tolist() == ["F", "F", "M", "M"]
    by_grouping = compare_users(per_a, B, GENDER, n_bootstrap=50, n_permutations=50, seed=3)
    raw = per_a.set_axis(["u1", "u2", "u3", "u4"])
    by_labels = compare_users(raw, B.set_axis(raw.index), labels.set_axis(raw.index),
                              n_bootstrap=50, n_permutations=50, seed=3)
    pd.testing.assert_frame_equal(by_grouping.groups, by_labels.groups)
    pd.testing.assert_frame_equal(by_grouping.gaps, by_labels.gaps)


def test_small_group_warns_and_gets_nan_ci():
    g = Grouping.from_codes("gender", ["F", "M"], [0, 1, 1, 1])
    with pytest.warns(SmallGroupWarning, match="Group 'F' of 'gender' has 1 paired user"):
        res = compare_users(A, B, g, metrics="ndcg@10", n_bootstrap=20, n_permutations=20)
    f = row(res.groups, group="F")
    assert np.isnan(f["ci_low"]) and f["p_sign_flip"] == 1.0  # n=1: both signs reach |Δ|
    assert np.isnan(row(res.gaps, metric="ndcg@10")["change"])


# --------------------------------------------------------------- planted gain
def planted(n: int = 400, gain: float = 0.1, seed: int = 7):
    rng = np.random.default_rng(seed)
    codes = np.repeat([0, 1], n // 2)
    a = rng.uniform(0, 0.5, n)
    b = a + rng.normal(0, 0.05, n) + np.where(codes == 0, gain, 0.0)
    return (pd.DataFrame({"ndcg@10": a}), pd.DataFrame({"ndcg@10": b}),
            Grouping.from_codes("gender", ["F", "M"], codes))


def test_planted_gain_for_one_group_is_found():
    a, b, g = planted()
    res = compare_users(a, b, g, n_bootstrap=500, n_permutations=2000, seed=1)
    f, m = row(res.groups, group="F"), row(res.groups, group="M")
    assert f["delta"] == pytest.approx(0.1, abs=0.015)
    assert f["ci_low"] > 0.08 and f["ci_high"] < 0.12
    assert f["p_sign_flip"] < 0.001 and f["p_wilcoxon"] < 1e-10 and f["share_better"] > 0.95
    assert m["ci_low"] < 0 < m["ci_high"] and m["p_sign_flip"] > 0.05 and m["p_wilcoxon"] > 0.05
    gap = row(res.gaps, metric="ndcg@10")
    assert gap["ci_low"] < gap["change"] < gap["ci_high"] and gap["p_value"] < 0.001
    assert abs(gap["change"]) == pytest.approx(0.1, abs=0.02)


def test_same_seed_same_numbers_and_rows_independent_of_other_metrics():
    a, b, g = planted()
    a["recall@10"], b["recall@10"] = a["ndcg@10"] * 2, b["ndcg@10"] * 2
    one = compare_users(a, b, g, metrics=["ndcg@10"], n_bootstrap=100, n_permutations=300, seed=5)
    two = compare_users(a, b, g, n_bootstrap=100, n_permutations=300, seed=5)
    again = compare_users(a, b, g, n_bootstrap=100, n_permutations=300, seed=5)
    pd.testing.assert_frame_equal(two.groups, again.groups)
    pd.testing.assert_frame_equal(one.groups, two.groups[two.groups["metric"] == "ndcg@10"].reset_index(drop=True))
    other = compare_users(a, b, g, n_bootstrap=100, n_permutations=300, seed=6)
    assert not other.groups["ci_low"].equals(two.groups["ci_low"])


# ---------------------------------------------------------------- paired tests
def test_wilcoxon_matches_scipy_and_a_hand_computed_exact_value():
    assert wilcoxon_test(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))[0] == pytest.approx(2 / 32)
    d = np.random.default_rng(0).normal(0.1, 1.0, 60)
    assert wilcoxon_test(d)[0] == pytest.approx(sps.wilcoxon(d).pvalue)
    a, b, g = planted(n=60)
    res = compare_users(a, b, g, n_bootstrap=20, n_permutations=20)
    delta = (b["ndcg@10"] - a["ndcg@10"]).to_numpy()[:30]
    assert row(res.groups, group="F")["p_wilcoxon"] == pytest.approx(sps.wilcoxon(delta).pvalue)
    assert wilcoxon_test(np.zeros(4))[0] == 1.0 and np.isnan(wilcoxon_test(np.zeros(0))[0])


def brute_force_sign_flip(d: np.ndarray) -> float:
    obs = abs(d.sum())
    hits = sum(abs(np.dot(s, d)) >= obs - 1e-12 for s in itertools.product([1, -1], repeat=d.size))
    return hits / 2**d.size


def test_sign_flip_exact_equals_brute_force_enumeration():
    d = np.array([0.3, -0.1, 0.2, 0.05, 0.4, -0.25])
    assert sign_flip_exact(d)[0] == pytest.approx(brute_force_sign_flip(d))
    assert sign_flip_exact(np.array([1.0, 2.0, 3.0]))[0] == 0.25
    with pytest.raises(RecfairError) as info:
        sign_flip_exact(np.ones(21))
    assert str(info.value) == TOO_MANY_FOR_EXACT.format(max=20, n=21)


def test_sign_flip_monte_carlo_agrees_with_exact_on_small_n():
    d = np.random.default_rng(2).normal(0.2, 1.0, 12)
    exact = brute_force_sign_flip(d)
    auto = sign_flip_test(d, 4096, rng_for(0, "x"))[0]  # 2**12 ≤ 4096 → enumerated
    assert auto == pytest.approx(exact)
    mc = sign_flip_test(d, 4000, rng_for(0, "x"))[0]
    se = np.sqrt(exact * (1 - exact) / 4000)
    assert abs(mc - exact) < 4 * se + 1e-3
    assert sign_flip_test(d, 4000, rng_for(0, "x"))[0] == mc  # seeded


# ---------------------------------------------------------------------- strata
def test_activity_strata_quantiles_and_ties():
    class Train:
        user_counts = np.array([1, 1, 1, 1, 5, 6, 7, 8, 9, 10])

    s = activity_strata(Train(), 5)
    assert s.labels == ("q1 (1-1)", "q2 (5-6)", "q3 (7-8)", "q4 (9-10)")  # the four 1s share a stratum
    assert s.codes.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]


def test_strata_hand_computed():
    per_user = pd.DataFrame({"ndcg@10": [0.1, 0.3, 0.0, 0.2, 0.6, 0.8, 0.5, 0.5, 0.4, 0.6]})
    g = Grouping.from_codes("gender", ["F", "M"], [0, 0, 1, 1, 0, 0, 1, 1, 1, 1])
    s = Grouping.from_codes("activity", ["low", "high"], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    out = gaps_within_strata(per_user, g, s, n_bootstrap=100)
    assert list(out.columns) == list(STRATA_COLUMNS)
    assert out["kind"].tolist() == ["stratum", "stratum", "crude", "adjusted"]
    low, high, crude, adj = (out.iloc[i] for i in range(4))
    assert (crude["high_group"], crude["low_group"]) == ("F", "M")
    assert crude["gap"] == pytest.approx(0.45 - 0.3667, abs=1e-4)
    assert low["gap"] == pytest.approx(0.1) and high["gap"] == pytest.approx(0.2)
    assert (low["weight"], high["weight"]) == pytest.approx((0.4, 0.6))
    assert adj["gap"] == pytest.approx(0.4 * 0.1 + 0.6 * 0.2) and adj["n"] == 10


def test_strata_remove_a_gap_explained_by_activity():
    rng = np.random.default_rng(3)
    n = 2000
    stratum = rng.integers(0, 4, n)
    female = rng.random(n) < np.array([0.8, 0.6, 0.4, 0.2])[stratum]  # women less active
    values = 0.1 * stratum + rng.normal(0, 0.05, n)  # accuracy depends on activity only
    per_user = pd.DataFrame({"ndcg@10": values})
    g = Grouping.from_codes("gender", ["F", "M"], np.where(female, 0, 1))
    s = Grouping.from_codes("activity_q4", ["q1", "q2", "q3", "q4"], stratum)
    out = gaps_within_strata(per_user, g, s, n_bootstrap=300, seed=2)
    crude, adj = row(out, kind="crude"), row(out, kind="adjusted")
    assert crude["gap"] > 0.05 and crude["ci_low"] > 0
    assert abs(adj["gap"]) < 0.01 and adj["ci_low"] < 0 < adj["ci_high"]


def test_strata_with_too_few_groups_keeps_columns():
    per_user = pd.DataFrame({"ndcg@10": [0.1, 0.2, 0.3]})
    g = Grouping.from_codes("gender", ["F", "M"], [0, 0, 0])
    s = Grouping.from_codes("activity", ["low"], [0, 0, 0])
    out = gaps_within_strata(per_user, g, s, n_bootstrap=10)
    assert list(out.columns) == list(STRATA_COLUMNS) and out["gap"].isna().all()
    assert out["kind"].tolist() == ["crude", "adjusted"]


def test_groupings_need_index_users():
    from recfair.fairness.compare import NEED_INDICES

    raw = A.set_axis(["u1", "u2", "u3", "u4"])
    with pytest.raises(RecfairError) as info:
        compare_users(raw, B.set_axis(raw.index), GENDER)
    assert str(info.value) == NEED_INDICES.format(dtype=raw.index.dtype)
