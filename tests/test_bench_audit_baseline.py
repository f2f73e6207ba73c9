"""recfair's full audit against the pandas baseline of bench/audit_baseline.py, number for number.

The baseline computes every table of ``recfair audit`` independently (per-user
loops, pandas ``groupby``, one resample / permutation at a time) with the same
random streams, so this is both the check behind the "Audit speed" benchmark
(bench/bench_audit_speed.py) and an independent cross-check of the audit.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
OPTS = {"k": 10, "n_bootstrap": 20, "n_permutations": 20, "seed": 3}


@pytest.fixture(scope="module")
def speed():
    """bench/bench_audit_speed.py as a module (it puts bench/ on sys.path for the baseline)."""
    sys.path.insert(0, str(BENCH))
    yield importlib.import_module("bench_audit_speed")
    while str(BENCH) in sys.path:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def inputs(speed):
    """200 users; one in ten test users has no list, so some metrics are missing for some users."""
    data = speed.make_inputs(200, 120, 5000, model="popularity", seed=1)
    recs = data["recs"]
    data["recs"] = recs.select(recs.users[np.arange(len(recs)) % 10 != 3])
    return data


@pytest.fixture(scope="module")
def both(speed, inputs):
    """(recfair's tables, the baseline's tables) for the same inputs and options."""
    return speed.recfair_audit(inputs, OPTS), speed.pandas_audit(inputs, OPTS)


def test_every_table_agrees_number_for_number(speed, both):
    ours, theirs = both
    report = speed.compare(ours, theirs)
    assert set(report) == {"user_groups", "user_gaps", "item_groups", "item_fairness", "item_metrics",
                           "rating_groups", "rating_unfairness"}
    for name, table in report.items():
        assert table["problems"] == [], name
        assert table["max_scaled_diff"] <= speed.TOLERANCE, name


def test_the_comparison_covers_real_numbers(both):
    ours, _ = both
    gaps = ours["user_gaps"]
    assert set(gaps["attribute"]) == {"gender", "age", "activity"}
    assert gaps["p_value"].between(1 / 21, 1).all() and gaps["gap_ci_low"].notna().all()
    # users without a list make the beyond-accuracy metrics missing for them: a second nan pattern
    assert (ours["user_groups"]["n_missing"] > 0).any()
    assert ours["item_groups"]["attribute"].tolist().count("genres") >= 2
    assert ours["rating_unfairness"]["value"].notna().any()


def test_other_random_draws_are_caught(speed, inputs, both):
    ours, _ = both
    other = speed.pandas_audit(inputs, {**OPTS, "seed": OPTS["seed"] + 1, "n_permutations": 1})
    report = speed.compare(ours, other)
    assert report["user_groups"]["max_abs_diff"] > 1e-6  # other bootstrap draws move the bounds
    assert report["user_groups"]["problems"] == []
    assert report["item_metrics"]["max_abs_diff"] <= speed.TOLERANCE  # no randomness there
