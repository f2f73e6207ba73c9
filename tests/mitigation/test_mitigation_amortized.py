"""The amortized-exposure re-ranker on hand-made candidates with known answers."""

import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.mitigation import AmortizedExposureReRanker, make_reranker
from recfair.mitigation.amortized import BAD_STATE, position_weights
from recfair.mitigation.registry import UNKNOWN_RERANKER
from recfair.mitigation.rerank import BAD_TARGET, TARGET_SUM
from recfair.recommendations import Recommendations

from test_mitigation_rerank import popularity_world  # items 0-2 head, the rest tail

W = position_weights(3)  # 1, 1/log2(3), 1/2


def _one(items, scores):
    return Recommendations(np.array([0]), np.array([items], dtype=np.int32), np.array([scores], dtype=np.float32))


CAND = _one([0, 1, 2, 3, 4], [5, 4, 3, 2, 1])  # relevance after scaling: 1, .75, .5, .25, 0


def test_position_weights_are_the_dcg_discount():
    np.testing.assert_allclose(W, [1.0, 1 / np.log2(3), 0.5])


def test_lambda_zero_keeps_the_score_order_and_counts_attention():
    r = AmortizedExposureReRanker(target=0.5, lambda_=0.0)
    out = r.rerank(CAND, popularity_world(), 3)
    assert out.items[0].tolist() == [0, 1, 2]
    assert r.exposure_ == pytest.approx({"head": W.sum(), "tail": 0.0})
    assert r.n_lists_ == 1


def test_unbounded_loss_gives_positions_to_the_group_in_deficit():
    # 1: tail deficit .5·1 > 0 → item 3; 2: .5·(1+w2) − 1 < 0 → best (0); 3: .5·(1+w2+.5) − 1 > 0 → item 4
    r = AmortizedExposureReRanker(target=0.5, lambda_=1.0)
    out = r.rerank(CAND, popularity_world(), 3)
    assert out.items[0].tolist() == [3, 0, 4]
    assert out.scores[0].tolist() == [2.0, 5.0, 1.0]  # each item keeps its own score
    assert r.exposure_ == pytest.approx({"head": W[1], "tail": W[0] + W[2]})


def test_bounded_loss_by_hand():
    # ideal DCG 1 + .75·w2 + .5·.5; floor = .8 × ideal.  Position 1: item 3 first would cap the
    # list at .25 + w2 + .375 < floor → item 0.  Position 2: 1 + .25·w2 + .375 ≥ floor → item 3.
    # Position 3: item 4 (relevance 0) would end at 1 + .25·w2 < floor → item 1.
    r = AmortizedExposureReRanker(target=0.5, lambda_=0.2)
    out = r.rerank(CAND, popularity_world(), 3)
    assert out.items[0].tolist() == [0, 3, 1]
    rel = {0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25, 4: 0.0}
    dcg = sum(w * rel[i] for w, i in zip(W, out.items[0]))
    ideal = W @ np.array([1.0, 0.75, 0.5])
    assert 1 - dcg / ideal <= 0.2


def test_every_list_keeps_its_relevance_bound_and_shares_reach_the_target():
    ds = popularity_world(n_users=40, n_items=30)
    rng = np.random.default_rng(0)
    # the three head items lead every list; nine random tail items follow
    items = np.array([[*rng.permutation(3), *(3 + rng.permutation(27)[:9])] for _ in range(200)], dtype=np.int32)
    scores = -np.sort(-rng.random((200, 12)), axis=1).astype(np.float32)
    cand = Recommendations(np.arange(200) % 40, items, scores)
    r = AmortizedExposureReRanker(target=0.6, lambda_=0.3)
    out = r.rerank(cand, ds, 5)
    w = position_weights(5)
    for row in range(200):
        s = scores[row].astype(np.float64)
        rel = (s - s.min()) / (s.max() - s.min())
        got = {int(i): rel[j] for j, i in enumerate(items[row])}
        dcg = sum(wi * got[int(i)] for wi, i in zip(w, out.items[row]))
        assert dcg >= 0.7 * (w @ rel[:5]) - 1e-9
    plain = AmortizedExposureReRanker(target=0.6, lambda_=0.0)
    plain.rerank(cand, ds, 5)
    assert plain.shares()["tail"] < 0.6 <= r.shares()["tail"] + 0.02


def test_state_round_trip_continues_like_one_run():
    ds = popularity_world()
    both = AmortizedExposureReRanker(target=0.5, lambda_=1.0)
    first, second = both.rerank(CAND, ds, 3), both.rerank(CAND, ds, 3)
    again = AmortizedExposureReRanker(target=0.5, lambda_=1.0)
    again.rerank(CAND, ds, 3)
    resumed = AmortizedExposureReRanker(target=0.5, lambda_=1.0).load_state(again.state())
    assert resumed.rerank(CAND, ds, 3).items.tolist() == second.items.tolist()
    assert resumed.state() == both.state() and both.state()["lists"] == 2
    assert first.items.tolist() != second.items.tolist()  # the state changed the next list
    assert resumed.reset().state() == {"item_groups": "popularity", "exposure": {}, "lists": 0}


def test_errors_name_the_problem():
    r = AmortizedExposureReRanker(item_groups="tiers")
    with pytest.raises(RecfairError) as exc:
        r.load_state({"item_groups": "popularity", "exposure": {"head": 1.0}})
    assert str(exc.value) == BAD_STATE.format(given="popularity", expected="tiers", groups="none yet")
    with pytest.raises(RecfairError) as exc:
        AmortizedExposureReRanker(target={"niche": 0.3}).rerank(CAND, popularity_world(), 3)
    assert str(exc.value) == BAD_TARGET.format(group="niche", owner="AmortizedExposureReRanker",
                                               item_groups="popularity", choices="head, tail")
    with pytest.raises(RecfairError) as exc:
        AmortizedExposureReRanker(target={"head": 0.7, "tail": 0.6}).rerank(CAND, popularity_world(), 3)
    assert str(exc.value) == TARGET_SUM.format(owner="AmortizedExposureReRanker", total=1.3)
    with pytest.raises(RecfairError, match="lambda_"):
        make_reranker("amortized", lambda_=1.5)


def test_registered_with_typed_config():
    r = make_reranker("amortized-exposure", target=0.3, lambda_=0.05)
    assert isinstance(r, AmortizedExposureReRanker)
    assert r.get_params() == {"target": 0.3, "item_groups": "popularity", "lambda_": 0.05}
    with pytest.raises(RecfairError) as exc:
        make_reranker("amortised")
    assert str(exc.value).startswith(UNKNOWN_RERANKER.format(
        name="amortised", choices="ugf, fair, prefix, calibrated, amortized"))


def test_same_input_same_output_and_padding():
    ds = popularity_world()
    cand = Recommendations(np.array([0, 1]), np.array([[0, 3, -1, -1], [4, 1, 2, -1]], dtype=np.int32),
                           np.array([[2, 1, np.nan, np.nan], [3, 2, 1, np.nan]], dtype=np.float32))
    a = AmortizedExposureReRanker(lambda_=0.5).rerank(cand, ds, 3)
    b = AmortizedExposureReRanker(lambda_=0.5).rerank(cand, ds, 3)
    assert a.items.tolist() == b.items.tolist()
    assert a.items[0, 2] == -1 and np.isnan(a.scores[0, 2])
    assert sorted(a.items[1].tolist()) == [1, 2, 4]


def test_precomputed_item_codes_give_the_same_lists():
    from recfair.mitigation.amortized import BAD_CODES
    from recfair.mitigation.rerank import item_group_codes

    ds = popularity_world()
    given = AmortizedExposureReRanker(target=0.5, lambda_=1.0, item_codes=item_group_codes(ds, "popularity"))
    assert given.rerank(CAND, ds, 3).items.tolist() == [[3, 0, 4]]
    short = AmortizedExposureReRanker(item_codes=(np.zeros(3, dtype=np.int64), ["head", "tail"]))
    with pytest.raises(RecfairError) as exc:
        short.rerank(CAND, ds, 3)
    assert str(exc.value) == BAD_CODES.format(n=3, n_items=ds.n_items)
