"""The HTML report: self-contained, every section drawn from the store, known answers for the plot kit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from recfair.report import render_report
from recfair.report.charts import lorenz_points, pareto_front
from recfair.report.sections import DRIFT_CHARTS, cell_frame, drift_sections
from recfair.report.svg import PALETTE, fmt, nice_ticks
from recfair.study.store import Store
from tests.report.study_fixture import build_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return build_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def html(study):
    return render_report(study, study / "report.html").read_text(encoding="utf-8")


def test_report_is_self_contained_and_has_every_section(html):
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from elsewhere
    for anchor in ("headline", "gains", "tradeoff", "groups", "exposure", "probe", "drift", "provenance"):
        assert f'id="{anchor}"' in html
    figures = re.findall(r'<figure class="plot">(.*?)</figure>', html, flags=re.S)
    # 3 comparisons + trade-off + 4 groupings + Lorenz + 2 drift metrics
    assert len(figures) == 11
    for fig in figures:
        assert fig.count("<svg") == 1 and 'class="mark"' in fig


def test_headline_numbers_come_from_the_store(study, html):
    with Store(study, read_only=True) as store:
        overall = store.table("overall")
        cells = cell_frame(store.cells())
    ids = cells.loc[cells["label"] == "random", "cell_id"]
    mean = overall[overall["cell_id"].isin(ids) & (overall["metric"] == "ndcg@10")]["value"].mean()
    assert f"<td>random</td><td>none</td><td>2</td><td>{fmt(mean)}</td>" in html
    assert "popularity + blend λ=0.2 vs popularity: who gains, who loses (ndcg@10)" in html
    assert "Gaps within activity strata" in html and "activity_q5" in html


def test_report_of_an_empty_store_renders(tmp_path):
    Store(tmp_path).close()
    text = render_report(tmp_path / "study.duckdb", tmp_path / "r.html").read_text()
    assert "No done cells yet." in text and "No comparison stored." in text


def test_palette_is_okabe_ito():
    assert set(PALETTE) == {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}


def test_nice_ticks_and_fmt():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.03, 0.21) == [-0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert (fmt(0.1234), fmt(-0.0), fmt(np.nan), fmt(2e-6)) == ("0.123", "0", "—", "2e-06")


def test_pareto_front_and_lorenz_known_answers():
    assert pareto_front([0.1, 0.2, 0.3, 0.25], [0.01, 0.05, 0.10, 0.20]) == [0, 1, 2]
    assert pareto_front([0.1, 0.1], [0.2, 0.1]) == [1]
    pts = lorenz_points(np.array([0.0, 0.0, 1.0, 3.0]))
    assert pts == [(0.0, 0.0), (0.25, 0.0), (0.5, 0.0), (0.75, 0.25), (1.0, 1.0)]


def test_cell_labels_carry_mitigation_and_lambda():
    cells = pd.DataFrame({
        "cell_id": ["a", "b", "c"], "model": ["bpr", "bpr", "bpr"], "status": ["done"] * 3, "seed": [0, 0, 1],
        "mitigation": ["none", "ugf-rerank", "ugf-rerank"],
        "mitigation_params": [None, '{"lambda": 0.5}', '{"lambda": 0.5}'],
    })
    out = cell_frame(cells)
    assert out["label"].tolist() == ["bpr", "bpr + ugf-rerank λ=0.5", "bpr + ugf-rerank λ=0.5"]
    assert out["lambda"].isna().tolist() == [True, False, False]


def test_drift_draws_key_metrics_as_mean_lines_in_ci_bands_and_tables_the_rest():
    cells = pd.DataFrame({"cell_id": ["a0", "a1", "b0"], "label": ["pop", "pop", "bpr"], "seed": [0, 1, 0]})
    rounds = pd.DataFrame({"cell_id": np.repeat(["a0", "a1", "b0"], 6), "round": np.tile([1, 2, 3], 6),
                           "metric": np.tile(np.repeat(["accuracy", "accept_rate"], 3), 3),
                           "value": [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4,
                                     0.9, 0.9, 0.9, 0.5, 0.5, 0.5]})
    drift = drift_sections({"rounds": rounds}, cells)
    assert [c["title"] for c in drift["charts"]] == ["Drift over rounds: accuracy (mean over seeds, 95% CI)"]
    svg = drift["charts"][0]["svg"]
    assert svg.count('class="band"') == 1  # two seeds of pop: a band; bpr has one seed: none
    assert "pop, round 1: 0.85" in svg and svg.count("<polyline") == 2
    assert "accept_rate" not in DRIFT_CHARTS
    assert drift["table"][["series", "metric", "first round", "last round", "change"]].values.tolist() == [
        ["pop", "accept_rate", "0.55", "0.35", "-0.2"], ["bpr", "accept_rate", "0.5", "0.5", "0"]]
    assert drift_sections({"rounds": rounds.iloc[:0]}, cells) is None
