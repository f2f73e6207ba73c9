"""λ lists of every mitigation stage reach the component: one cell per λ, different numbers."""

from __future__ import annotations

from recfair.study.cells import expand_cells
from recfair.study.config import parse_study_config
from recfair.study.execute import run_cell
from tests.study.study_config import TINY

PRE = TINY.replace("""stage = "in"
name = "group-gap"
groups = "gender"
lambda = [0.5]""", """stage = "pre"
name = "equal-share"
groups = "gender"
lambda = [0.0, 1.0]""")


def test_pre_lambda_list_gives_distinct_cells_with_different_numbers():
    cells = [c for c in expand_cells(parse_study_config(PRE, "s.toml")) if c.stage == "pre" and c.model == "bpr"]
    assert [c.mitigation_params["lambda_"] for c in cells] == [0.0, 1.0]
    assert len({c.cell_id for c in cells}) == 2
    results = [run_cell(c.to_dict(), None, 1) for c in cells]
    assert [r["error"] for r in results] == [None, None]
    ndcg = [r["tables"]["overall"].set_index("metric")["value"]["ndcg@10"] for r in results]
    assert ndcg[0] != ndcg[1]


def test_pre_lambda_zero_is_the_unmitigated_model():
    cells = expand_cells(parse_study_config(PRE, "s.toml"))
    plain = next(c for c in cells if c.model == "bpr" and c.stage is None)
    zero = next(c for c in cells if c.model == "bpr" and c.stage == "pre" and c.mitigation_params["lambda_"] == 0.0)
    a, b = (run_cell(c.to_dict(), None, 1)["tables"]["user_metrics"] for c in (plain, zero))
    assert a["value"].tolist() == b["value"].tolist()
