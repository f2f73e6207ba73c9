"""`audit()` end to end on the tiny fixture, the Audit value's round trips and summary.

nDCG@3 by hand (lists of conftest.py): u0 [i2,i3,i5] with T = {i2,i3} → 1 · u1 [i2,i5] with
T = {i4} → 0 · u2 [i1,i3,i4] with T = {i1} → 1 · u3 has no test items (skipped, counted).
"""

import numpy as np
import pandas as pd
import pytest

from recfair.errors import RecfairError
from recfair.fairness.audit import MISSING_TABLE, Audit, audit
from recfair.fairness.item import ITEM_FAIRNESS_COLUMNS, ITEM_GROUP_COLUMNS, ITEM_METRIC_COLUMNS
from recfair.fairness.user import USER_GAP_COLUMNS, USER_GROUP_COLUMNS, SmallGroupWarning


@pytest.fixture
def result(tiny):
    split, recs = tiny
    with pytest.warns(SmallGroupWarning):
        return audit(recs, split, groups="gender,age,activity", k=3, n_bootstrap=200, n_permutations=200)


def test_tables_have_fixed_columns(result):
    assert tuple(result.user_groups.columns) == USER_GROUP_COLUMNS
    assert tuple(result.user_gaps.columns) == USER_GAP_COLUMNS
    assert tuple(result.item_groups.columns) == ITEM_GROUP_COLUMNS
    assert tuple(result.item_fairness.columns) == ITEM_FAIRNESS_COLUMNS
    assert tuple(result.item_metrics.columns) == ITEM_METRIC_COLUMNS


def test_user_side_values_by_hand(result):
    assert result.meta["n_users"] == 3 and result.meta["n_skipped"] == 1  # u3 has no test items
    g = result.user_groups.set_index(["attribute", "group", "metric"])
    assert g.loc[("gender", "F", "ndcg@3"), "value"] == pytest.approx(1.0)
    assert g.loc[("gender", "F", "ndcg@3"), "n"] == 2
    assert g.loc[("gender", "M", "ndcg@3"), "value"] == 0.0
    assert g.loc[("gender", "M", "ndcg@3"), "n"] == 1 and np.isnan(g.loc[("gender", "M", "ndcg@3"), "ci_low"])
    gap = result.user_gaps.set_index(["attribute", "metric"]).loc[("gender", "ndcg@3")]
    assert np.isnan(gap["gap"]) and gap["n_groups"] == 1  # M is too small to compare
    # activity (training counts 2,2,2,1 of all 4 users): top 5% = the 3 users tied at 2
    act = g.loc[("activity", "top5%", "ndcg@3")]
    assert act["n"] == 3 and act["value"] == pytest.approx(2 / 3)
    assert set(result.ugf.columns) >= {"attribute", "metric", "ugf", "p_value"}


def test_item_side_uses_the_evaluated_users(result):
    assert result.meta["n_item_users"] == 3
    t = result.item_groups.set_index(["attribute", "group"])
    assert t.loc[("popularity", "tail"), "p_rec"] == pytest.approx(7 / 11)
    m = dict(zip(result.item_metrics["metric"], result.item_metrics["value"]))
    assert m["coverage@3"] == pytest.approx(5 / 6)


def test_save_load_and_json_roundtrip(result, tmp_path):
    path = result.save(tmp_path / "audit")
    for name in Audit.TABLES:
        assert (path / f"{name}.parquet").is_file()
    back = Audit.load(path)
    assert back.equals(result)
    pd.testing.assert_frame_equal(back.user_gaps, result.user_gaps, check_dtype=False)
    assert Audit.from_json(result.to_json()).equals(result)
    assert '"NaN"' not in result.to_json() and "NaN" not in result.to_json()  # NaN is written as null
    (path / "item_metrics.parquet").unlink()
    with pytest.raises(RecfairError) as e:
        Audit.load(path)
    assert str(e.value) == MISSING_TABLE.format(kind="model", name="item_metrics")


def test_equals_detects_a_changed_value(result):
    other = Audit.from_json(result.to_json())
    other.tables["user_groups"].loc[0, "value"] += 1e-3
    assert not other.equals(result)


def test_summary_is_readable_text(result):
    text = result.summary()
    assert "gender · ndcg@3" in text and "activity · ndcg@3" in text
    assert "popularity" in text and "coverage@3" in text


def test_per_user_table_can_be_given(tiny):
    split, recs = tiny
    per_user = pd.DataFrame({"score": [0.1, 0.2, 0.3, 0.4]}, index=pd.Index([0, 1, 2, 3], name="user"))
    res = audit(recs, split, groups="gender", per_user=per_user, k=3, n_bootstrap=50, n_permutations=50)
    gap = res.user_gaps.iloc[0]
    assert gap["metric"] == "score" and gap["gap"] == pytest.approx(0.1)  # F (.1,.3) vs M (.2,.4)
    assert res.meta["n_item_users"] == 4
