"""A study on a local Ray (2 CPUs) gives the same numbers as the local runner (slow: starts Ray)."""

from __future__ import annotations

import pandas as pd
import pytest

from recfair.study.config import load_study_config
from recfair.study.runner import run_study
from tests.study.study_config import write_config
from tests.study.test_study_runner import snapshot

pytestmark = pytest.mark.slow


def test_ray_matches_local(tmp_path):
    pytest.importorskip("ray")
    cfg = load_study_config(write_config(tmp_path))
    local = run_study(cfg, tmp_path / "local", progress=False, threads=1)
    ray = run_study(cfg, tmp_path / "ray", progress=False, threads=1, use_ray=True)
    assert local.failed == ray.failed == 0 and ray.ran == local.ran == local.planned
    got, want = snapshot(tmp_path / "ray"), snapshot(tmp_path / "local")
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
