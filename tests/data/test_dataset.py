import numpy as np
import pandas as pd
import pytest

from recfair.data.dataset import Dataset, concat_interactions
from recfair.errors import DataError


@pytest.fixture()
def tiny():
    inter = pd.DataFrame(
        {"user": ["u1", "u1", "u2", "u3", "u3", "u3"], "item": ["a", "b", "a", "c", "a", "b"],
         "rating": [5, 3, 4, 1, 2, 5], "timestamp": [1, 2, 3, 4, 5, 6]}
    )
    users = pd.DataFrame({"user": ["u1", "u2", "u3", "u4"], "gender": ["F", "M", "F", "M"]})
    items = pd.DataFrame({"item": ["a", "b", "c"], "title": ["A", "B", "C"]})
    return Dataset.from_frame(inter, users=users, items=items, name="tiny")


def test_from_frame_maps_ids_and_keeps_attribute_only_users(tiny):
    assert (tiny.n_users, tiny.n_items, tiny.n_interactions) == (4, 3, 6)
    assert list(tiny.user_ids) == ["u1", "u2", "u3", "u4"]
    assert tiny.users.loc[3, "gender"] == "M"
    assert tiny.user.dtype == np.int32 and tiny.item.dtype == np.int32
    assert tiny.rating.dtype == np.float32 and tiny.timestamp.dtype == np.int64
    np.testing.assert_array_equal(tiny.user_index(["u3", "u1"]), [2, 0])
    with pytest.raises(DataError, match="unknown user id 'zz'"):
        tiny.user_index(["zz"])


def test_matrix_counts_and_popularity(tiny):
    m = tiny.matrix.toarray()
    assert m.shape == (4, 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(tiny.user_counts, [2, 1, 3, 0])
    np.testing.assert_array_equal(tiny.item_popularity, [3, 2, 1])
    np.testing.assert_array_equal(tiny.active_users, [0, 1, 2])
    assert tiny.rating_matrix[2, 1] == 5


def test_subset_shares_index_space_and_arrays_are_read_only(tiny):
    part = tiny.subset(tiny.timestamp > 3)
    assert part.n_users == tiny.n_users and part.n_interactions == 3
    assert part.users is tiny.users
    with pytest.raises(ValueError):
        part.user[0] = 1
    both = concat_interactions([tiny.subset(tiny.timestamp <= 3), part])
    np.testing.assert_array_equal(both.item, tiny.item)


def test_summary_reports_columns(tiny):
    s = tiny.summary()
    assert s["users"] == 4 and s["interactions"] == 6 and s["users_with_interactions"] == 3
    assert s["user_attributes"] == ["gender"] and s["rating_max"] == 5.0


def test_bad_construction_is_a_clear_error(tiny):
    with pytest.raises(DataError, match="indices outside"):
        Dataset(np.array([0, 9]), np.array([0, 0]), None, None, tiny.user_ids, tiny.item_ids, tiny.users, tiny.items)
    with pytest.raises(DataError, match="missing column 'item'"):
        Dataset.from_frame(pd.DataFrame({"user": [1]}))
    with pytest.raises(DataError, match="duplicate id 'x'"):
        Dataset.from_frame(pd.DataFrame({"user": ["x"], "item": ["a"]}), users=pd.DataFrame({"user": ["x", "x"]}))
