"""Fixtures for the fairness tests; the data lives in fairness_fixtures.py."""

from __future__ import annotations

import pytest
from tests.helpers.fairness import tiny_parts

from recfair.data.split import Split


@pytest.fixture
def tiny():
    full, train, test, recs = tiny_parts()
    split = Split(train=train, test=test, valid=None, history=None, protocol="hand", seed=0)
    return split, recs

