"""Data-bias audit of the full tiny data set of conftest.py (train + test), by hand.

Interactions (user: item rating): u0 i0 4, i1 3, i2 5, i3 4 · u1 i0 5, i1 2, i4 2 · u2 i0 4, i2 1, i1 3 · u3 i0 3.
Item counts i0..i5 = 4, 3, 2, 1, 1, 0 (11 in all).
"""

import numpy as np
import pytest

from recfair.fairness.audit import NOT_AN_AUDIT, WRONG_KIND, Audit
from recfair.fairness.data_audit import (
    CONCENTRATION_COLUMNS, DATA_ITEM_COLUMNS, DATA_USER_COLUMNS, RATING_DIST_COLUMNS, DataAudit, audit_data,
)
from recfair.errors import RecfairError
from tests.helpers.fairness import tiny_parts


@pytest.fixture
def full():
    return tiny_parts()[0]


def test_user_groups_by_hand(full):
    da = audit_data(full, "gender,age", "popularity")
    u = da["user_groups"]
    assert tuple(u.columns) == DATA_USER_COLUMNS
    g = u[u["attribute"] == "gender"].set_index("group")
    assert g.loc["F", "n_users"] == 2 and g.loc["F", "user_share"] == 0.5
    assert g.loc["F", "n_interactions"] == 7 and g.loc["F", "interaction_share"] == pytest.approx(7 / 11)
    assert g.loc["F", "mean_activity"] == 3.5 and g.loc["F", "median_activity"] == 3.5
    assert g.loc["F", "mean_rating"] == pytest.approx(24 / 7)
    assert g.loc["M", "mean_rating"] == pytest.approx(3.0) and g.loc["M", "mean_activity"] == 2.0
    a = u[u["attribute"] == "age"].set_index("group")
    assert list(a.index) == ["1-17", "18-24", "25-34", "35-44", "45-49", "50-55", "56+", "(none)"]
    assert a.loc["(none)", "n_users"] == 1 and a.loc["(none)", "n_interactions"] == 1
    assert a["user_share"].sum() == pytest.approx(1.0) and a["interaction_share"].sum() == pytest.approx(1.0)
    assert a.loc["25-34", "n_users"] == 0 and np.isnan(a.loc["25-34", "mean_activity"])


def test_rating_distribution_by_hand(full):
    rd = audit_data(full, "gender", "popularity")["rating_distribution"]
    assert tuple(rd.columns) == RATING_DIST_COLUMNS
    f = rd[rd["group"] == "F"].set_index("rating")
    np.testing.assert_array_equal(f["count"].to_numpy(), [1, 0, 2, 3, 1])
    np.testing.assert_allclose(f["share"].to_numpy(), np.array([1, 0, 2, 3, 1]) / 7)


def test_item_groups_and_concentration_by_hand(full):
    da = audit_data(full, "gender", "popularity")
    i = da["item_groups"].set_index("group")
    assert tuple(da["item_groups"].columns) == DATA_ITEM_COLUMNS
    # pop 4,3,2 reach 9/11 ≥ .8 → short head {i0, i1, i2}
    assert i.loc["head", "n_items"] == 3 and i.loc["head", "catalogue_share"] == 0.5
    assert i.loc["head", "interaction_share"] == pytest.approx(9 / 11)
    assert i.loc["head", "mean_rating"] == pytest.approx(30 / 9)
    assert i.loc["tail", "mean_rating"] == pytest.approx(3.0)
    c = dict(zip(da["concentration"]["metric"], da["concentration"]["value"]))
    assert tuple(da["concentration"].columns) == CONCENTRATION_COLUMNS
    assert c["item_gini"] == pytest.approx(27 / 66)  # Σ(2i−n−1)x_(i) / (n Σx) over 0,1,1,2,3,4
    assert c["head_items"] == 3 and c["head_item_share"] == 0.5
    assert c["head_interaction_share"] == pytest.approx(9 / 11)
    assert c["top1%_interaction_share"] == pytest.approx(4 / 11)
    assert c["items_without_interactions"] == pytest.approx(1 / 6)
    assert c["user_activity_gini"] == pytest.approx(9 / 44)


def test_defaults_skip_missing_columns_and_roundtrip(full, tmp_path):
    da = audit_data(full)
    assert da.meta["groups"] == ["gender", "age", "activity"]
    assert da.meta["item_groups"] == ["popularity", "tiers", "genres"]
    genres = da["item_groups"][da["item_groups"]["attribute"] == "genres"].set_index("group")
    assert genres.loc["Action", "n_interactions"] == 7  # i0 4 + i1 3 (i5 has none)
    da.save(tmp_path / "d")
    assert DataAudit.load(tmp_path / "d").equals(da)
    assert DataAudit.from_json(da.to_json()).equals(da)
    assert "gender" in da.summary() and "item_gini" in da.summary()
    with pytest.raises(RecfairError) as e:
        Audit.load(tmp_path / "d")
    assert str(e.value) == WRONG_KIND.format(path=tmp_path / "d", found="data", expected="model")
    with pytest.raises(RecfairError) as e:
        DataAudit.load(tmp_path / "nothing")
    assert str(e.value) == NOT_AN_AUDIT.format(path=tmp_path / "nothing", file="audit.json")
