"""FaiRLLM similarity measures, SNSR / SNSV and the probe tables, pinned on hand-computed lists."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recfair.errors import RecfairError
from recfair.recommendations import Recommendations
from recfair.fairness.counterfactual import (
    EMPTY_ATTRIBUTES,
    FAIRLLM_ATTRIBUTES,
    FAIRLLM_NEUTRAL,
    FAIRLLM_TEMPLATE,
    NEUTRAL_VALUE,
    TRUE,
    BAD_LISTER_OUTPUT,
    ProbeLists,
    jaccard,
    prag_star,
    run_probe,
    serp_released,
    serp_star,
    similarities,
    snsr,
    snsv,
)


def test_identical_reversed_disjoint():
    x = [1, 2, 3, 4, 5]
    assert jaccard(x, x) == serp_star(x, x) == prag_star(x, x) == 1.0
    assert serp_released(x, x) == pytest.approx((5 * 6 / 2 + 5) / (2 * 5 * 6))  # released weights K-i+2
    rev = x[::-1]
    assert prag_star(x, rev) == 0.0
    assert jaccard(x, rev) == 1.0 and serp_star(x, rev) == 1.0  # same set, SERP* ignores order in y
    other = [6, 7, 8, 9, 10]
    for f in (jaccard, serp_star, serp_released, prag_star):
        assert f(x, other) == 0.0


def test_released_scale_maximum_at_k20():
    x = list(range(20))
    assert serp_released(x, x) == pytest.approx(230 / 840)
    assert round(serp_released(x, x), 3) == 0.274  # METRICS.md: "max ≈ 0.274 at K = 20"


def test_hand_computed_partial_overlap():
    x, y = [1, 2, 3, 4], [2, 1, 5, 6]
    assert jaccard(x, y) == pytest.approx(2 / 6)
    assert serp_star(x, y) == pytest.approx((4 + 3) / 10)  # ranks 1, 2 in y: weights K-i+1 = 4, 3
    assert serp_released(x, y) == pytest.approx((5 + 4) / 40)
    # pairs: (1,2) both in y but y order reversed → 0; (1,3),(1,4),(2,3),(2,4) → 1; (3,4) → 0
    assert prag_star(x, y) == pytest.approx(4 / 6)


def test_padding_counts_as_missing():
    x, y = [7, -1, -1], [7, 8, 9]
    assert jaccard(x, y) == pytest.approx(1 / 3)
    assert serp_star(x, y) == pytest.approx(3 / 6)
    assert prag_star(x, y) == pytest.approx(2 / 3)  # (1,2),(1,3): x_1 in y, x_j missing
    assert serp_star([1, 2], [1, 2], k=4) == pytest.approx((4 + 3) / 10)  # k pads short lists
    assert math.isnan(jaccard([-1, -1], [-1, -1]))


def test_snsr_snsv():
    assert snsr([0.5, 0.7, 0.9]) == pytest.approx(0.4)
    assert snsv([0.5, 0.7, 0.9]) == pytest.approx(math.sqrt(0.08 / 3))  # population std
    assert snsr([0.3]) == 0.0 and snsv([0.3]) == 0.0
    assert snsr([0.2, float("nan"), 0.6]) == pytest.approx(0.4)
    assert math.isnan(snsv([]))


def test_fairllm_defaults_verbatim():
    assert FAIRLLM_ATTRIBUTES["gender"] == ("a boy", "a female", "a girl", "a male")
    assert FAIRLLM_ATTRIBUTES["religion"] == ("a Buddhist", "a Christian", "an Islamic")
    assert FAIRLLM_ATTRIBUTES["physics"] == ("fat", "thin")
    assert len(FAIRLLM_ATTRIBUTES) == 8 and FAIRLLM_NEUTRAL == "a"
    assert FAIRLLM_TEMPLATE.format(value="a", name="Hitchcock", K=20) == (
        "I am a fan of Hitchcock. Please provide me with a list of 20 movie titles in order of preference "
        "that you think I might like."
    )


def _reference(x, y, k):
    """Straightforward per-list implementation of METRICS.md (independent of the vectorised one)."""
    xs = [i for i in x[:k]] + [-1] * max(0, k - len(x))
    ys = [i for i in y[:k]] + [-1] * max(0, k - len(y))
    yl = [i for i in ys if i != -1]
    in_y = [i != -1 and i in yl for i in xs]
    sx, sy = {i for i in xs if i != -1}, set(yl)
    jac = len(sx & sy) / len(sx | sy) if sx | sy else float("nan")
    serp = sum(k - i for i in range(k) if in_y[i]) / (k * (k + 1) / 2)
    rel = sum(k - i + 1 for i in range(k) if in_y[i]) / (2 * k * (k + 1))
    pairs = 0
    for i in range(k):
        for j in range(i + 1, k):
            if in_y[i] and (not in_y[j] or yl.index(xs[i]) < yl.index(xs[j])):
                pairs += 1
    return jac, serp, rel, pairs / (k * (k - 1) / 2)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 8), st.randoms(use_true_random=False))
def test_vectorised_matches_reference(k, rnd):
    n = 6
    x = np.full((n, k), -1)
    y = np.full((n, k), -1)
    for r in range(n):
        lx, ly = rnd.randint(0, k), rnd.randint(0, k)
        x[r, :lx] = rnd.sample(range(12), lx)
        y[r, :ly] = rnd.sample(range(12), ly)
    got = similarities(x, y)
    for r in range(n):
        ref = _reference(list(x[r]), list(y[r]), k)
        for name, v in zip(("jaccard", "serp_star", "serp_released", "prag_star"), ref):
            g = got[name][r]
            assert (math.isnan(v) and math.isnan(g)) or g == pytest.approx(v)
            if not math.isnan(g):
                assert 0.0 <= g <= 1.0


def _fixed_lister(table):
    def lister(units, attribute, value):
        key = (attribute, value)
        lists = np.asarray([table[key][u] for u in units])
        return ProbeLists(Recommendations(units, lists, np.ones(lists.shape)))

    return lister


def test_probe_tables_hand_computed():
    neutral = {0: [1, 2, 3], 1: [4, 5, 6]}
    table = {
        (None, NEUTRAL_VALUE): neutral,
        ("g", "a"): neutral,  # identical → 1
        ("g", "b"): {0: [7, 8, 9], 1: [10, 11, 12]},  # disjoint → 0
    }
    res = run_probe(_fixed_lister(table), [0, 1], {"g": ["a", "b"]}, k=3, grounded=False)
    att = res.attributes.set_index("measure")
    for m in ("jaccard", "serp_star", "prag_star", "serp_released"):
        top = 1.0 if m != "serp_released" else (6 + 3) / (2 * 3 * 4)
        assert att.loc[m, "snsr"] == pytest.approx(top)
        assert att.loc[m, "snsv"] == pytest.approx(top / 2)
        assert att.loc[m, "n_values"] == 2
    sim = res.similarity.query("measure == 'prag_star'").set_index("value")["sim"]
    assert sim["a"] == 1.0 and sim["b"] == 0.0
    assert set(res.lists.columns) == {"unit", "attribute", "value", "rank", "item"}
    assert len(res.lists) == 3 * 2 * 3  # three profiles × two units × K
    assert res.accuracy is None and res.validity is None


def test_grounded_probe_uses_true_and_per_attribute_neutral(tmp_path):
    from recfair.data import Dataset

    # 2 users, test items known; lists chosen so accuracy is hand-computable
    test = Dataset.from_frame(pd.DataFrame({"user": ["u0", "u1"], "item": ["i1", "i4"]}),
                              items=pd.DataFrame({"item": [f"i{j}" for j in range(13)]}),
                              users=pd.DataFrame({"user": ["u0", "u1"]}))
    calls = []

    def lister(units, attribute, value):
        calls.append((attribute, value))
        if value == TRUE:
            return Recommendations(units, [[1, 2], [4, 5]], np.ones((2, 2)))
        if value == NEUTRAL_VALUE:
            return Recommendations(units, [[1, 2], [5, 4]], np.ones((2, 2)))
        return Recommendations(units, [[2, 1], [6, 7]], np.ones((2, 2)))

    res = run_probe(lister, [0, 1], {"g": ["x"], "h": ["y"]}, k=2, grounded=True, test=test)
    assert calls.count((None, TRUE)) == 1  # the true profile is listed once
    assert (("g", NEUTRAL_VALUE) in calls) and (("h", NEUTRAL_VALUE) in calls)
    acc = res.accuracy.set_index(["attribute", "value"])
    assert acc.loc[("(all)", TRUE), "ndcg@2"] == pytest.approx(1.0)  # both test items at rank 1
    assert acc.loc[("g", NEUTRAL_VALUE), "ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert acc.loc[("g", "x"), "recall@2"] == pytest.approx(0.5)
    refs = set(res.similarity["reference"])
    assert refs == {"neutral", "true"}
    out = res.save(tmp_path / "p")
    for name in ("attributes", "similarity", "per_unit", "lists", "accuracy"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()
    assert (out / "probe.json").is_file()


def test_probe_rejects_empty_attributes():
    with pytest.raises(RecfairError) as e:
        run_probe(_fixed_lister({}), [0], {}, k=3)
    assert str(e.value) == EMPTY_ATTRIBUTES.format(attrs={})


def test_probe_refuses_a_lister_returning_bare_arrays():
    def lister(units, attribute, value):
        return np.zeros((len(units), 3), np.int64), None

    with pytest.raises(RecfairError) as e:
        run_probe(lister, [0], {"g": ["a"]}, k=3)
    assert str(e.value) == BAD_LISTER_OUTPUT.format(what="tuple")
