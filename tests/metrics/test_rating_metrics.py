"""RMSE / MAE, overall and per user, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers.metrics import make_dataset

from recfair.errors import RecfairError
from recfair.metrics import mae, per_user_errors, rmse
from recfair.metrics.rating import BAD_SHAPE, NO_TEST_RATINGS, NOT_FINITE


@pytest.fixture
def rated():
    # user 0 rates items 0, 1 (4, 3); user 2 rates item 1 (5); user 1 has no test pair
    return make_dataset([(0, 0), (0, 1), (2, 1)], n_users=3, n_items=2, ratings=[4.0, 3.0, 5.0])


def test_overall(rated):
    pred = np.array([3.5, 3.0, 4.0])  # errors −0.5, 0, −1
    assert rmse(pred, rated) == pytest.approx(np.sqrt((0.25 + 0 + 1) / 3), abs=1e-12)
    assert mae(pred, rated) == pytest.approx(1.5 / 3, abs=1e-12)


def test_per_user(rated):
    table = per_user_errors(np.array([3.5, 3.0, 4.0]), rated)
    assert table.index.name == "user" and list(table.index) == [0, 2]
    np.testing.assert_allclose(table["user_rmse"], [np.sqrt(0.25 / 2), 1.0], atol=1e-12)
    np.testing.assert_allclose(table["user_mae"], [0.25, 1.0], atol=1e-12)
    assert list(table["n"]) == [2, 1]


def test_errors(rated):
    with pytest.raises(RecfairError) as e:
        rmse(np.zeros(2), rated)
    assert str(e.value) == BAD_SHAPE.format(n=3, shape=(2,))
    with pytest.raises(RecfairError) as e:
        mae(np.array([1.0, np.nan, 2.0]), rated)
    assert str(e.value) == NOT_FINITE.format(pos=1, value=np.nan)
    implicit = make_dataset([(0, 0)], n_users=1, n_items=1)
    with pytest.raises(RecfairError) as e:
        rmse(np.zeros(1), implicit)
    assert str(e.value) == NO_TEST_RATINGS.format(name=implicit.name)
