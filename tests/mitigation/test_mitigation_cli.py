import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from recfair.cli import app
from recfair.cli.mitigate import K_TOO_LARGE
from recfair.errors import RecfairError
from recfair.data import load_dataset, make_split
from recfair.models.classic.mf import BPRRecommender
from recfair.recommendations import Recommendations
from recfair.runs import RunConfig, write_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder on the built-in synthetic data set (no download), with a validation part."""
    path = tmp_path_factory.mktemp("run")
    cfg = RunConfig("bpr", {}, "synthetic", protocol="random", test_size=0.2, valid_size=0.1, seed=0, n_candidates=40)
    split = make_split(load_dataset("synthetic"), "random", test_size=0.2, valid_size=0.1, seed=0)
    model = BPRRecommender(embedding_size=8, epochs=3, seed=0, runtime={"progress": False}).fit(split.train)
    users = np.flatnonzero((split.test.user_counts > 0) & (split.train.user_counts > 0))
    write_run(path, cfg, model, model.recommend(users, k=40))
    return path


@pytest.mark.parametrize("args", [
    ["--method", "ugf", "--epsilon", "0.01", "--relevance", "quantile", "--solver", "greedy"],
    ["--method", "ugf", "--epsilon", "0.01"],  # auto → calibrated on the validation part, exact MILP
    ["--method", "fair", "--p", "0.5"],
    ["--method", "calibrated", "--lambda", "0.5"],
])
def test_rerank_prints_before_after_and_writes_a_run(run_dir, tmp_path, args):
    out = tmp_path / "reranked"
    res = CliRunner().invoke(app, ["rerank", str(run_dir), *args, "--k", "10", "--out", str(out)],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "before" in res.output and "after" in res.output and "ndcg@10" in res.output
    recs = Recommendations.load(out / "recommendations.parquet")
    assert recs.k == 10
    summary = json.loads((out / "rerank.json").read_text())
    assert summary["method"] == args[1] and summary["k"] == 10
    if args[1] == "ugf":
        assert abs(summary["report"]["gap_after"]) <= 0.01
        assert summary["options"]["relevance"] == ("quantile" if "quantile" in args else "calibrated")
        assert "ugf constrained gap" in res.output
    run = json.loads((out / "run.json").read_text())
    assert run["n_candidates"] == 10 and run["extra"]["rerank"]["method"] == args[1]
    # the written folder is something `recfair evaluate` reads
    res = CliRunner().invoke(app, ["evaluate", str(out), "--k", "10"])
    assert res.exit_code == 0, res.output


def test_rerank_bad_input(run_dir):
    res = CliRunner().invoke(app, ["rerank", str(run_dir), "--k", "40"])
    assert isinstance(res.exception, RecfairError)
    assert str(res.exception) == K_TOO_LARGE.format(k=40, n=40)
    # through the console entry point: one line on stderr, exit code 2
    res = subprocess.run([sys.executable, "-m", "recfair", "rerank", str(run_dir), "--method", "magic"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "Error: Unknown re-ranker 'magic'. Choose one of: ugf, fair, prefix, calibrated, amortized."


def test_mitigations_lists_the_specs():
    res = CliRunner().invoke(app, ["mitigations"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for spec in ("group-gap:G", "adversarial:G", "equal-share:G", "upsample:G[=GROUP]", "ugf", "calibrated"):
        assert spec in res.output
