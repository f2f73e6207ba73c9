"""The [probe] section: a probe cell per probed seed, stored in the probe tables and shown by the report."""

from __future__ import annotations

import pytest

from recfair.report import render_report
from recfair.study.cells import expand_cells
from recfair.study.config import StudyConfigError, load_study_config, parse_study_config
from recfair.study.config_check import CANNOT_PROBE, NOT_A_SEED
from recfair.study.probe import PROBE
from recfair.study.runner import compare_pairs, run_study
from recfair.study.store import Store
from tests.study.study_config import TINY, write_config

PROBED = TINY.replace("[models.bpr]", """[models.generative]
epochs = 1
embedding_size = 16
n_layers = 1
max_len = 10

[models.bpr]""").replace("lambda = [0.5]", "lambda = [0.5]\nmodels = [\"bpr\"]") + """
[probe]
groups = ["gender", "age"]
k = 5
n_users = 12
min_valid_rate = 0.0
"""


def test_probe_cells_follow_their_parent_and_are_not_compared():
    cells = expand_cells(parse_study_config(PROBED, "s.toml"))
    probes = [c for c in cells if c.kind == PROBE]
    assert len(probes) == 1 and probes[0].model == "generative" and probes[0].baseline_id is None
    parent = next(c for c in cells if c.cell_id == probes[0].parent_id)
    assert (parent.model, parent.mitigation, parent.seed) == ("generative", "none", 0)
    assert cells.index(parent) < cells.index(probes[0])
    assert all(probes[0].cell_id not in pair for pair in compare_pairs(cells))
    assert probes[0].mitigation_params["n_users"] == 12


def test_probe_config_errors_name_the_problem():
    with pytest.raises(StudyConfigError) as err:
        parse_study_config(PROBED.replace("n_users = 12", "n_users = 12\nmodel = \"bpr\"\nseeds = [3]"), "s.toml")
    text = str(err.value)
    assert CANNOT_PROBE.format(name="bpr", backend="builtin", choices="generative") in text
    assert NOT_A_SEED.format(seed=3, seeds=[0]) in text


def test_probe_runs_as_a_cell_and_the_report_shows_it(tmp_path):
    cfg = write_config(tmp_path, PROBED)
    result = run_study(load_study_config(cfg), tmp_path / "st", progress=False, threads=1)
    assert result.failed == 0, result
    with Store(tmp_path / "st", read_only=True) as store:
        cells = store.cells()
        probe_id = cells.loc[cells["mitigation"] == PROBE, "cell_id"].tolist()
        summary, rows = store.table("probe_summary"), store.table("probe")
    assert len(probe_id) == 1
    assert set(summary["cell_id"]) == set(probe_id) and set(summary["attribute"]) == {"gender", "age"}
    assert set(rows["reference"]) >= {"neutral"} and rows["sim"].between(0, 1).all()
    assert (tmp_path / "st" / "cells" / probe_id[0] / "probe" / "probe.json").is_file()
    html = render_report(tmp_path / "st", tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="probe"' in html and "generative + probe" in html
    headline = html[html.index('id="headline"'):html.index('id="probe"')]
    assert "generative + probe" not in headline and "probe_users" not in headline
