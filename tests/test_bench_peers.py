"""The peer benchmark's bookkeeping (bench/peers/run.py): grids, merging repetitions, time to quality.

Only the pure helpers are tested here; the libraries themselves live in the bench's own
virtual environment and are never imported by the test suite.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parents[1] / "bench" / "peers"


@pytest.fixture(scope="module")
def run():
    """bench/peers/run.py as a module (libs.py beside it is importable without the peer libraries)."""
    sys.path.insert(0, str(PEERS))
    try:
        spec = importlib.util.spec_from_file_location("peers_run", PEERS / "run.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(PEERS))


def _point(e, s, q):
    return {"epochs": e, "seconds": s, "ndcg": q, "recall": q / 2}


def test_grid_ends_at_the_library_default(run):
    assert run.grid_for("recfair", "ml-100k") == [1, 2, 3, 5, 8, 12, 20]
    assert run.grid_for("lenskit", "ml-1m-size") == [1, 2, 3, 5, 10]
    assert run.grid_for("implicit", "ml-100k")[-1] == 100


def test_merge_keeps_minimum_time_and_flags_varying_quality(run):
    a = {"lib": "x", "points": [_point(1, 2.0, 0.10), _point(2, 4.0, 0.20)], "top10_s": 0.5, "first_fit_s": 3.0,
         "load_s": 1.0, "peak_mb": 100.0, "baseline_mb": 50.0}
    b = dict(a, points=[_point(1, 1.5, 0.10), _point(2, 5.0, 0.21)], top10_s=0.4, peak_mb=120.0)
    merged = run.merge([a, b])
    assert [p["seconds"] for p in merged["points"]] == [1.5, 4.0]
    assert [p["deterministic"] for p in merged["points"]] == [True, False]
    assert merged["top10_s"] == 0.4 and merged["peak_mb"] == 120.0 and merged["repeats"] == 2
    assert run.merge([{"lib": "x", "error": ["boom"]}]) == {"error": ["boom"]}


def test_reach_uses_the_tolerance_and_returns_the_first_point(run):
    pts = [_point(1, 0.1, 0.10), _point(3, 0.3, 0.1655), _point(5, 0.5, 0.17)]
    assert run.reach(pts, 0.166)["epochs"] == 3  # .1655 >= .166 - TOL
    assert run.reach(pts, 0.2) is None


def test_goals_report_a_missed_time_ratio(run):
    res = {
        "recfair": {"points": [_point(20, 2.0, 0.19)], "top10_s": 0.01, "peak_mb": 400.0, "baseline_mb": 100.0},
        "implicit": {"points": [_point(100, 1.0, 0.166)], "top10_s": 0.05, "peak_mb": 150.0, "baseline_mb": 100.0},
    }
    res["recfair"]["points"][0]["epochs"] = run.DEFAULT_EPOCHS["recfair"]
    lines = run.goals(res, run.summarise(res))
    assert any("2.00×" in line and "**missed**" in line for line in lines)  # 2.0 s vs 1.0 s
    assert any("faster than every peer" in line and "| yes |" in line for line in lines)
    assert any("1.5× the leanest" in line and "**missed**" in line for line in lines)  # 400 vs 150 MB
