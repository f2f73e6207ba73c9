"""Every case of the hardening issue's "Why" list: exit 2, one line naming what is wrong, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from recfair.cli import main
from tests.helpers.cli import run_cli
from recfair.runs import DATA_CHANGED, RUN_FILE
from recfair.runs.artifacts import EXISTS, NOT_A_FOLDER, update_manifest
from recfair.runs.checks import BAD_CANDIDATES, BAD_SEED, FEW_CANDIDATES, PENALTY_NEEDS_LAMBDA


def refused(capsys, message, *argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A popularity run on the built-in synthetic data (trained through the CLI)."""
    path = tmp_path_factory.mktemp("h") / "pop"
    with pytest.MonkeyPatch.context():
        try:
            main(["-q", "train", "popularity", "--dataset", "synthetic", "--out", str(path), "--candidates", "20"])
        except SystemExit as exc:
            assert not exc.code
    return path


def copy(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "copy")


@pytest.mark.parametrize("extra, message", [
    (["--seed", str(2**70)], BAD_SEED.format(where="--seed", value=2**70)),
    (["--seed", "-1"], BAD_SEED.format(where="--seed", value=-1)),
    (["--candidates", "0"], BAD_CANDIDATES.format(where="--candidates", value=0)),
    (["--candidates", "-5"], BAD_CANDIDATES.format(where="--candidates", value=-5)),
    (["--candidates", "5"], FEW_CANDIDATES.format(where="--candidates", n=5, k=10)),
    (["--penalty", "group-gap:gender"], PENALTY_NEEDS_LAMBDA.format(spec="group-gap:gender")),
    (["--split", "sideways"], "Unknown split 'sideways'"),
    (["--dataset", "ml-100k", "--sep", ";"], "option 'sep' does not apply to the built-in ml-100k"),
])
def test_train_options_are_checked_before_any_work(capsys, tmp_path, extra, message):
    out = refused(capsys, message, "train", "popularity", "--dataset", "synthetic", "--out", str(tmp_path / "r"),
                  *extra)
    assert not (tmp_path / "r").exists() and "run written" not in out


def test_out_naming_a_file_is_refused_before_training(capsys, tmp_path):
    f = tmp_path / "taken.txt"
    f.write_text("mine")
    refused(capsys, NOT_A_FOLDER.format(path=f), "train", "popularity", "--dataset", "synthetic", "--out", str(f))
    assert f.read_text() == "mine"


def test_existing_run_needs_force(capsys, run_dir, tmp_path):
    target = copy(run_dir, tmp_path)
    refused(capsys, EXISTS.format(path=target), "train", "popularity", "--dataset", "synthetic", "--out", str(target))
    code, _, err = run_cli(capsys, "-q", "train", "popularity", "--dataset", "synthetic", "--out", str(target),
                       "--candidates", "30", "--force")
    assert code == 0, err
    assert json.loads((target / RUN_FILE).read_text())["n_candidates"] == 30
    assert not (target / "metrics.json").exists()  # nothing stale survives a replaced run


def test_evaluate_keeps_each_k_and_prints_json(capsys, run_dir, tmp_path):
    target = copy(run_dir, tmp_path)
    assert run_cli(capsys, "evaluate", str(target), "--k", "10")[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", str(target), "--k", "20", "--json")
    assert code == 0 and json.loads(out)["metrics"]["ndcg@20"] >= 0
    assert set(json.loads((target / "metrics.json").read_text())) == {"10", "20"}
    refused(capsys, "exceeds the run's stored list length 20", "evaluate", str(target), "--k", "100")


def test_edited_run_json_is_refused(capsys, run_dir, tmp_path):
    target = copy(run_dir, tmp_path)
    cfg = json.loads((target / RUN_FILE).read_text())
    cfg["split"]["test_size"] = 0.3
    (target / RUN_FILE).write_text(json.dumps(cfg))
    refused(capsys, "artefact 'run.json' changed since it was written", "evaluate", str(target))


@pytest.mark.parametrize("how", ["truncate", "no-columns"])
def test_damaged_recommendations_are_refused(capsys, run_dir, tmp_path, how):
    import pandas as pd

    target = copy(run_dir, tmp_path)
    f = target / "recommendations.parquet"
    if how == "truncate":
        f.write_bytes(f.read_bytes()[:100])
        refused(capsys, "artefact 'recommendations.parquet' changed", "audit", str(target))
    else:  # a well-formed file without the columns, re-checksummed: the reader still refuses it
        pd.DataFrame({"a": [1]}).to_parquet(f)
        update_manifest(target, ["recommendations.parquet"])
        refused(capsys, "lacks column(s) user, rank, item, score", "evaluate", str(target))


def test_truncated_weights_are_refused(capsys, run_dir, tmp_path):
    target = copy(run_dir, tmp_path)
    w = target / "model" / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:50])
    refused(capsys, "artefact 'model/weights.safetensors' changed", "evaluate", str(target))


def test_data_changed_after_training_is_refused(capsys, tmp_path):
    csv = tmp_path / "r.csv"
    rows = [(u, i, 1 + (u * i) % 5, 1000 + 10 * u + i) for u in range(12) for i in range(10) if (u + i) % 3]
    csv.write_text("user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    run = tmp_path / "run"
    assert run_cli(capsys, "-q", "train", "popularity", "--dataset", str(csv), "--out", str(run), "--candidates", "10")[0] == 0
    csv.write_text("user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{5000 - t}\n" for u, i, r, t in rows))
    refused(capsys, DATA_CHANGED.split("(")[0].format(dataset=csv, path=run), "evaluate", str(run))


def test_config_naming_a_module_outside_the_registry_imports_nothing(run_dir, tmp_path):
    target = copy(run_dir, tmp_path)
    cfg_file = target / "model" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["model"] = "antigravity"
    cfg["class"] = "antigravity:Fly"
    cfg_file.write_text(json.dumps(cfg))
    update_manifest(target, ["model/config.json"])  # a consistent folder: only the registry stands in the way
    script = textwrap.dedent(f"""
        import sys
        from recfair.cli import main
        try:
            main(["evaluate", {str(target)!r}])
        except SystemExit as exc:
            print("exit", exc.code)
        print("imported", "antigravity" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "exit 2" in res.stdout and "imported False" in res.stdout, res.stdout + res.stderr
    assert "not a registered model" in res.stderr and "Traceback" not in res.stderr


def test_audit_unknown_show_metric_lists_valid_ones(capsys, run_dir):
    refused(capsys, "--show: unknown metric 'ndgc'. Choose from: precision, recall", "audit", str(run_dir),
            "--show", "ndcg,ndgc")


def test_audit_json_and_small_groups_summarised_once(capsys, run_dir, tmp_path):
    code, out, err = run_cli(capsys, "audit", str(run_dir), "--groups", "gender*age", "--n-bootstrap", "20",
                         "--n-permutations", "20", "--json", "--out", str(tmp_path / "a"))
    assert code == 0, err
    tables = json.loads(out)["tables"]
    assert "user_gaps" in tables
    assert len([ln for ln in err.splitlines() if ln.startswith("warning: gender*age")]) <= 1


def test_rerank_unknown_audit_grouping_is_an_error(capsys, run_dir):
    refused(capsys, "--audit: grouping 'shoe_size' cannot be used", "rerank", str(run_dir), "--method", "fair",
            "--audit", "gender,shoe_size")


def test_timestamp_beyond_int64_is_refused(capsys, tmp_path):
    f = tmp_path / "big.csv"
    f.write_text("user_id,item_id,timestamp\n1,2,10000000000000000000\n1,3,5\n")
    refused(capsys, "timestamp 10000000000000000000 is outside the int64 range", "data", "info", str(f),
            "--timestamp-col", "timestamp")


def test_version_quiet_and_export(capsys, run_dir, tmp_path):
    import pandas as pd

    from recfair import __version__

    assert run_cli(capsys, "--version")[1].strip() == f"recfair {__version__}"
    code, out, _ = run_cli(capsys, "-q", "export", str(run_dir), "--out", str(tmp_path / "r.csv"))
    assert code == 0 and out == ""
    df = pd.read_csv(tmp_path / "r.csv", dtype={"user_id": str, "item_id": str})
    assert list(df.columns) == ["user_id", "rank", "item_id", "score", "user", "item"]
    assert df["user_id"].str.startswith("u").all()
    assert run_cli(capsys, "export", str(run_dir), "--out", str(tmp_path / "r.pq"), "--format", "parquet")[0] == 0
    assert len(pd.read_parquet(tmp_path / "r.pq")) == len(df)
    refused(capsys, "--format must be one of: csv, parquet", "export", str(run_dir), "--out", str(tmp_path / "x"),
            "--format", "xlsx")


def test_rating_model_reports_rmse_mae_and_yao_huang(capsys, tmp_path):
    run = tmp_path / "mf"
    code, _, err = run_cli(capsys, "-q", "train", "mf", "--dataset", "synthetic", "--out", str(run), "--param",
                       "epochs=2", "--candidates", "10")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "evaluate", str(run), "--json")
    metrics = json.loads(out)["metrics"]
    assert metrics["rmse"] > 0 and metrics["mae"] > 0
    code, out, err = run_cli(capsys, "audit", str(run), "--groups", "gender", "--n-bootstrap", "20",
                         "--n-permutations", "20")
    assert code == 0, err
    assert "Rating error by user group" in out and "Yao & Huang" in out
    import pandas as pd

    unfair = pd.read_parquet(run / "audit" / "rating_unfairness.parquet")
    assert list(unfair["grouping"]) == ["gender"] and unfair["value"].notna().all()
