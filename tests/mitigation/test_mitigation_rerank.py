"""Re-rankers on hand-made candidates with known answers."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from recfair.data import Dataset
from recfair.errors import RecfairError
from recfair.mitigation import (
    CalibratedPopularityReRanker,
    FairPrefixReRanker,
    PrefixExposureReRanker,
    UGFReRanker,
    make_reranker,
)
from recfair.errors import BAD_PARAM
from recfair.mitigation.rerank import BAD_TARGET, item_group_codes
from recfair.mitigation.ugf import INFEASIBLE, NEEDS_CALIBRATION, estimated_relevance
from recfair.recommendations import PAD, Recommendations


def popularity_world(n_users=20, n_items=12, seed=0):
    """Items 0-2 are bought by everybody (short head), the rest once each (long tail)."""
    rows = [(f"u{u}", f"i{j}") for u in range(n_users) for j in range(3)]
    rows += [(f"u{j % n_users}", f"i{j}") for j in range(3, n_items)]
    users = pd.DataFrame({"user": [f"u{u}" for u in range(n_users)],
                          "gender": ["F" if u % 3 == 0 else "M" for u in range(n_users)]})
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user", "item"]), users=users)


def test_item_groups_follow_metrics_definitions():
    ds = popularity_world()
    codes, names = item_group_codes(ds, "popularity")
    assert names == ["head", "tail"]
    assert codes[:3].tolist() == [0, 0, 0] and set(codes[3:]) == {1}
    with pytest.raises(RecfairError, match="Unknown item grouping"):
        item_group_codes(ds, "genres")


def _cands(items, scores=None, users=None):
    items = np.asarray(items, dtype=np.int32)
    if scores is None:
        scores = np.tile(np.arange(items.shape[1], 0, -1, dtype=np.float32), (items.shape[0], 1))
        scores = np.where(items == PAD, np.nan, scores)
    users = np.arange(items.shape[0]) if users is None else users
    return Recommendations(users, items, scores)


def test_fair_prefix_minimum_counts_by_hand():
    r = FairPrefixReRanker(p=0.5, alpha=0.1)
    np.testing.assert_array_equal(r.minimum_counts(6), binom.ppf(0.1, np.arange(1, 7), 0.5).astype(int))
    ds = popularity_world()
    # user 0's candidates: three head items first, then tail items 3..8, by score
    cand = _cands([[0, 1, 2, 3, 4, 5, 6, 7, 8]])
    out = FairPrefixReRanker(p=0.5, alpha=0.1).rerank(cand, ds, 6)
    m = r.minimum_counts(6)
    tail = ~np.isin(out.items[0], [0, 1, 2])
    assert (np.cumsum(tail) >= m).all()
    # best item first when no constraint binds; each group keeps its score order
    expected = []
    heads, tails = [0, 1, 2], [3, 4, 5, 6, 7, 8]
    n_tail = 0
    for i in range(6):
        if n_tail < m[i] or not heads:
            expected.append(tails.pop(0))
            n_tail += 1
        else:
            expected.append(heads.pop(0))
    assert out.items[0].tolist() == expected


def test_prefix_exposure_constraints_hold_in_every_prefix():
    ds = popularity_world()
    cand = _cands([[0, 1, 2, 3, 4, 5, 6, 7], [3, 0, 4, 1, 5, 2, 6, 7]])
    out = PrefixExposureReRanker(target=0.5).rerank(cand, ds, 6)
    for row in out.items:
        tail = np.cumsum(~np.isin(row, [0, 1, 2]))
        i = np.arange(1, 7)
        assert (tail >= np.floor(0.5 * i)).all() and (tail <= np.ceil(0.5 * i)).all()
    # the already balanced second list is unchanged
    assert out.items[1].tolist() == [3, 0, 4, 1, 5, 2]
    with pytest.raises(RecfairError) as exc:
        PrefixExposureReRanker(target={"niche": 0.3}).rerank(cand, ds, 4)
    assert str(exc.value) == BAD_TARGET.format(group="niche", owner="PrefixExposureReRanker",
                                               item_groups="popularity", choices="head, tail")


def test_calibrated_lambda_zero_keeps_order_and_one_matches_profile():
    ds = popularity_world()
    cand = _cands([[0, 1, 2, 3, 4, 5, 6, 7]], users=np.array([3]))
    out0 = CalibratedPopularityReRanker(0.0).rerank(cand, ds, 5)
    assert out0.items[0].tolist() == [0, 1, 2, 3, 4]
    # user 3's profile: items 0, 1, 2 (head) and 3 → tiers head/mid/tail as in training
    out1 = CalibratedPopularityReRanker(1.0).rerank(cand, ds, 4)
    from recfair.metrics.beyond import js_divergence, popularity_tiers

    tiers = popularity_tiers(ds)
    oh = (tiers[:, None] == np.array(["head", "mid", "tail"])).astype(float)
    p = oh[ds.matrix[3].indices].mean(0, keepdims=True)
    best = min(js_divergence(p, oh[list(c)].mean(0, keepdims=True))[0] for c in itertools.combinations(range(8), 4))
    got = js_divergence(p, oh[out1.items[0]].mean(0, keepdims=True))[0]
    assert got == pytest.approx(best)


def _ugf_world(seed=0, n_users=12, n_cand=6):
    ds = popularity_world(n_users=n_users, n_items=30)
    rng = np.random.default_rng(seed)
    items = np.stack([rng.permutation(np.arange(3, 30))[:n_cand] for _ in range(n_users)]).astype(np.int32)
    scores = np.sort(rng.normal(size=(n_users, n_cand)).astype(np.float32), axis=1)[:, ::-1]
    return ds, Recommendations(np.arange(n_users), items, scores)


def _brute_force(ugf, cand, ds, k):
    """Best total score over every combination of k-subsets (tiny instances only)."""
    from recfair.mitigation.rerank import sorted_candidates

    items, scores = sorted_candidates(cand, ds)
    c, _ = ugf._coefficients(cand.users, ds, k)
    r = estimated_relevance(items, scores, ugf.relevance)
    best = -np.inf
    subsets = list(itertools.combinations(range(items.shape[1]), k))
    # the gap is additive over users, so enumerate per-user (score, gap) options and combine by DP-free product
    options = [[(scores[u, list(s)].sum(), c[u] * r[u, list(s)].sum()) for s in subsets] for u in range(len(items))]
    for combo in itertools.product(*options):
        tot, gap = sum(o[0] for o in combo), sum(o[1] for o in combo)
        if abs(gap) <= ugf.epsilon and tot > best:
            best = tot
    return best


def test_ugf_milp_is_optimal_on_a_tiny_instance():
    ds, cand = _ugf_world(n_users=4, n_cand=4)
    # activity: user 0 has the most training interactions (4 vs 3): the top-5% group is {u0}
    ugf = UGFReRanker(epsilon=0.02, groups="activity")
    out = ugf.rerank(cand, ds, 2)
    assert abs(ugf.report_["gap_after"]) <= 0.02
    assert abs(ugf.report_["gap_before"]) > 0.02  # the constraint binds
    chosen = np.nansum(out.scores)
    assert chosen == pytest.approx(_brute_force(ugf, cand, ds, 2), rel=1e-6)
    assert ugf.constrained_gap(cand, out, ds, 2) == pytest.approx(ugf.report_["gap_after"])


@pytest.mark.parametrize("solver", ["milp", "greedy"])
@pytest.mark.parametrize("epsilon", [1e-3, 0.005, 0.01])
def test_ugf_meets_epsilon(solver, epsilon):
    ds, cand = _ugf_world(seed=1, n_users=30, n_cand=10)
    ugf = UGFReRanker(epsilon=epsilon, groups="gender", solver=solver)
    out = ugf.rerank(cand, ds, 4)
    assert abs(ugf.report_["gap_before"]) > epsilon
    assert abs(ugf.constrained_gap(cand, out, ds, 4)) <= epsilon
    assert out.items.shape == (30, 4) and (out.items != PAD).all()


def test_ugf_epsilon_zero_up_to_solver_tolerance():
    ds, cand = _ugf_world(seed=1, n_users=30, n_cand=10)
    ugf = UGFReRanker(epsilon=0.0, groups="gender")
    out = ugf.rerank(cand, ds, 4)
    assert abs(ugf.constrained_gap(cand, out, ds, 4)) <= 1e-7


def test_ugf_errors():
    ds, cand = _ugf_world(seed=1, n_users=30, n_cand=4)
    with pytest.raises(RecfairError) as exc:
        UGFReRanker(epsilon=0.0, groups="gender").rerank(cand, ds, 4)  # k = N: nothing to choose
    assert str(exc.value).startswith("UGF cannot meet epsilon=0.0")
    with pytest.raises(RecfairError) as exc:
        UGFReRanker(relevance="calibrated").rerank(cand, ds, 2)
    assert str(exc.value) == NEEDS_CALIBRATION
    with pytest.raises(RecfairError) as exc:
        UGFReRanker(solver="magic", groups="gender")
    assert str(exc.value) == BAD_PARAM.format(param="solver", owner="UGFReRanker", expected="one of milp, greedy",
                                              value="magic")
    assert INFEASIBLE.startswith("UGF cannot meet")


def test_ugf_calibrated_relevance_uses_the_calibration_set():
    ds, cand = _ugf_world(seed=2, n_users=30, n_cand=10)
    # calibration interactions: every gender-F user's first two candidates are hits, nobody else's
    rows = [(f"u{u}", f"i{cand.items[u, j]}") for u in range(30) if u % 3 == 0 for j in range(2)]
    cal_frame = pd.DataFrame(rows, columns=["user", "item"])
    cal = ds.with_interactions(ds.user_index(cal_frame["user"]), ds.item_index(cal_frame["item"]))
    ugf = UGFReRanker(epsilon=0.05, groups="gender", relevance="calibrated", calibration=cal)
    out = ugf.rerank(cand, ds, 4)
    # F users look far better (estimated precision 0.5 vs 0): the solver must lower them
    assert ugf.report_["gap_before"] == pytest.approx(0.5)
    assert abs(ugf.report_["gap_after"]) <= 0.05
    changed = (out.items != cand.items[:, :4]).any(1)
    assert changed[::3].any() and not changed[np.arange(30) % 3 != 0].any()


def test_make_reranker():
    assert isinstance(make_reranker("ugf", epsilon=0.1), UGFReRanker)
    assert isinstance(make_reranker("FA*IR"), FairPrefixReRanker)
    with pytest.raises(RecfairError, match="Unknown re-ranker 'x'. Choose one of: ugf, fair, prefix, calibrated, amortized."):
        make_reranker("x")
