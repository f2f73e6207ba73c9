"""Item-side audit on the tiny fixture of conftest.py (answers by hand).

Lists of the three users with test items (k=3), weights w = 1, 1/log2(3), 1/2:
u0 [i2,i3,i5] · u1 [i2,i5,–] · u2 [i1,i3,i4].
Exposure: i1 1 · i2 2 · i3 2·w2 · i4 .5 · i5 .5 + w2; total 3(1 + w2 + .5) − .5.
"""

import numpy as np
import pandas as pd
import pytest

from recfair.fairness.groups import GroupSpec
from recfair.fairness.item import (
    ITEM_FAIRNESS_COLUMNS, ITEM_GROUP_COLUMNS, ITEM_METRIC_COLUMNS, audit_items, item_group_table, item_metrics,
    rsp_reo,
)

W2 = 1.0 / np.log2(3.0)
TOTAL_EXPOSURE = 3 * (1 + W2 + 0.5) - 0.5


def three_users(recs):
    return recs.select(np.array([0, 1, 2]))


def test_popularity_group_table_by_hand(tiny):
    split, recs = tiny
    recs = three_users(recs)
    pop = GroupSpec.popularity().assign(split.train, "item")
    t = item_group_table(recs, split.train, split.test, pop, 3).set_index("group")
    assert tuple(item_group_table(recs, split.train, split.test, pop, 3).columns) == ITEM_GROUP_COLUMNS
    head, tail = t.loc["head"], t.loc["tail"]
    assert (head["n_items"], tail["n_items"]) == (2, 4)
    assert head["catalogue_share"] == pytest.approx(2 / 6)
    assert head["train_share"] == pytest.approx(6 / 7)  # pop 4 + 2 of 7
    assert head["test_share"] == pytest.approx(1 / 4)  # test items i2,i3,i4 (tail) and i1 (head)
    assert head["rec_share"] == pytest.approx(1 / 8)  # 8 real slots, one holds i1
    assert head["exposure"] == pytest.approx(1.0)
    assert head["exposure_share"] == pytest.approx(1 / TOTAL_EXPOSURE)
    assert tail["exposure"] == pytest.approx(TOTAL_EXPOSURE - 1)
    # P(R|head) = 1 / (0 + 0 + 1): u0 and u1 trained on both head items, u2 on i0 only
    assert head["p_rec"] == pytest.approx(1.0)
    # P(R|tail) = 7 tail slots / (4 + 4 + 3) candidate tail items
    assert tail["p_rec"] == pytest.approx(7 / 11)
    # P(R|head, y=1) = 1/1 (u2: i1) · P(R|tail, y=1) = (u0: i2,i3) 2 / 3 relevant tail items
    assert head["p_rec_relevant"] == pytest.approx(1.0)
    assert tail["p_rec_relevant"] == pytest.approx(2 / 3)


def test_rsp_reo_by_hand(tiny):
    split, recs = tiny
    pop = GroupSpec.popularity().assign(split.train, "item")
    rsp, reo = rsp_reo(three_users(recs), split.train, split.test, pop, 3)
    # two groups: population std / mean = |a − b| / (a + b)
    assert rsp == pytest.approx((1 - 7 / 11) / (1 + 7 / 11))
    assert reo == pytest.approx((1 - 2 / 3) / (1 + 2 / 3))


def test_overlapping_genres_count_items_in_every_genre(tiny):
    split, recs = tiny
    genres = GroupSpec.categorical("genres").assign(split.train, "item")
    t = item_group_table(three_users(recs), split.train, split.test, genres, 3).set_index("group")
    # Action = {i0, i1, i5}: exposure i1 (1) + i5 (.5 + w2)
    assert t.loc["Action", "exposure"] == pytest.approx(1.5 + W2)
    assert t.loc["Action", "n_items"] == 3 and t.loc["Action", "catalogue_share"] == pytest.approx(0.5)
    # Drama = {i4, i5}: exposure .5 + (.5 + w2); shares relative to all exposure, not to the genres' sum
    assert t.loc["Drama", "exposure_share"] == pytest.approx((1 + W2) / TOTAL_EXPOSURE)
    assert t["catalogue_share"].sum() > 1  # i1 and i5 count twice; i3 (no genre) not at all


def test_groups_without_candidates_or_relevant_items_are_nan_and_left_out():
    from recfair.data.dataset import Dataset
    from recfair.fairness.groups import Grouping
    from recfair.recommendations import Recommendations

    inter = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"]})
    ds = Dataset.from_frame(inter)
    train = ds.subset(np.array([True, False, True]))
    test = ds.subset(np.array([False, True, False]))
    g = Grouping.from_codes("g", ["only_x", "only_y"], [0, 1])
    recs = Recommendations(np.array([0, 1]), np.array([[1], [1]]), np.ones((2, 1)))
    t = item_group_table(recs, train, test, g, 1).set_index("group")
    # both users trained on x → no candidate x for anyone; x is never relevant
    assert np.isnan(t.loc["only_x", "p_rec"]) and np.isnan(t.loc["only_x", "p_rec_relevant"])
    assert t.loc["only_y", "p_rec"] == pytest.approx(1.0)
    rsp, reo = rsp_reo(recs, train, test, g, 1)
    assert rsp == 0.0 and reo == 0.0  # one defined group → std 0


def test_item_metrics_by_hand(tiny):
    split, recs = tiny
    m = item_metrics(three_users(recs), split.train, split.test, 3)
    assert tuple(m.columns) == ITEM_METRIC_COLUMNS
    v = dict(zip(m["metric"], m["value"]))
    assert v["coverage@3"] == pytest.approx(5 / 6)  # i1..i5
    # ARP: u0 (1 + 0 + 0)/3, u1 (1 + 0)/2, u2 (2 + 0 + 0)/3
    assert v["arp@3"] == pytest.approx((1 / 3 + 1 / 2 + 2 / 3) / 3)
    # tail = {i2..i5}: u0 3, u1 2, u2 2 tail items; APLT divides by k = 3 even for the short list
    assert v["aplt@3"] == pytest.approx(7 / 9)
    assert v["aclt@3"] == pytest.approx(7 / 3)
    rsp, reo = rsp_reo(three_users(recs), split.train, split.test, GroupSpec.popularity().assign(split.train, "item"), 3)
    assert v["pop_rsp@3"] == pytest.approx(rsp) and v["pop_reo@3"] == pytest.approx(reo)
    for name in ("exposure_gini@3", "novelty@3", "ild@3", "miscalibration@3", "popcal@3"):
        assert np.isfinite(v[name])


def test_item_metrics_without_genres_are_nan_not_a_crash(tiny):
    split, recs = tiny
    train = split.train
    from dataclasses import replace

    bare = replace(train, items=train.items.drop(columns=["genres"]))
    m = item_metrics(three_users(recs), bare, split.test, 3).set_index("metric")
    assert np.isnan(m.loc["ild@3", "value"]) and m.loc["ild@3", "n_users"] == 0
    assert np.isnan(m.loc["miscalibration@3", "value"])


def test_audit_items_tables(tiny):
    split, recs = tiny
    groupings = [s.assign(split.train, "item") for s in
                 (GroupSpec.popularity(), GroupSpec.tiers(), GroupSpec.categorical("genres"), GroupSpec.year())]
    res = audit_items(three_users(recs), split.train, split.test, groupings, 3)
    assert tuple(res.groups.columns) == ITEM_GROUP_COLUMNS
    assert tuple(res.fairness.columns) == ITEM_FAIRNESS_COLUMNS
    assert list(res.groups["attribute"].unique()) == ["popularity", "tiers", "genres", "year"]
    f = res.fairness.set_index(["attribute", "metric"])
    assert f.loc[("popularity", "rsp@3"), "value"] == pytest.approx((1 - 7 / 11) / (1 + 7 / 11))
    assert f.loc[("popularity", "rsp@3"), "n_groups"] == 2
