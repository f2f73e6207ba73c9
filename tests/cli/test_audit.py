"""`recfair audit RUN_DIR` and `recfair data audit` on a small synthetic run."""

import numpy as np
import pytest
from typer.testing import CliRunner

from recfair.cli import app, main
from recfair.data import load_dataset, make_split
from recfair.fairness.audit import Audit
from recfair.fairness.data_audit import DataAudit
from recfair.fairness.groups import BAD_SPEC
from recfair.models.registry import create_model
from recfair.runs import RunConfig, write_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = RunConfig(model="popularity", params={}, dataset="synthetic", seed=0, n_candidates=20)
    split = make_split(load_dataset("synthetic"), cfg.protocol, test_size=cfg.test_size, seed=cfg.seed)
    model = create_model("popularity").fit(split.train)
    recs = model.recommend(np.unique(split.test.user), cfg.n_candidates)
    return write_run(tmp_path_factory.mktemp("runs") / "pop", cfg, model, recs)


def test_audit_prints_tables_and_writes_them_next_to_the_run(run_dir):
    res = CliRunner().invoke(app, ["audit", str(run_dir), "--groups", "gender,age,activity", "--n-bootstrap", "100",
                                   "--n-permutations", "100", "--seed", "3"])
    assert res.exit_code == 0, res.output
    for text in ("gender: mean [95% bootstrap CI]", "ndcg@10", "permutation p", "popularity", "pop_rsp@10"):
        assert text in res.output
    saved = Audit.load(run_dir / "audit")
    assert saved.meta["n_bootstrap"] == 100 and saved.meta["seed"] == 3
    assert set(saved.user_gaps["attribute"]) == {"gender", "age", "activity"}
    # same seed, same numbers
    again = CliRunner().invoke(app, ["audit", str(run_dir), "--groups", "gender,age,activity", "--n-bootstrap", "100",
                                     "--n-permutations", "100", "--seed", "3", "--out", str(run_dir / "again")])
    assert again.exit_code == 0
    assert Audit.load(run_dir / "again").equals(saved)


def test_bad_group_spec_is_a_one_line_error(run_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(run_dir), "--groups", "age[x]"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "Error: " + BAD_SPEC.format(spec="age[x]")


def test_data_audit_command(tmp_path):
    res = CliRunner().invoke(app, ["data", "audit", "synthetic", "--groups", "group,gender", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "share of users vs share of interactions" in res.output and "minority" in res.output
    da = DataAudit.load(tmp_path / "d")
    assert set(da["user_groups"]["attribute"]) == {"group", "gender"}
