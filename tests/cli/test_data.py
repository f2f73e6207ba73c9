"""`recfair data info`: the table on good input, one line and exit code 2 on malformed input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.cli import run_cli
from recfair.cli.data import data_app, info_rows
from recfair.data import validate as V


def test_info_table(capsys, atomic_dir):
    code, out, err = run_cli(capsys, "data", "info", str(atomic_dir))
    assert code == 0, err
    for text in ("users", "4 (3 with interactions)", "interactions", "5", "density", "0.416667",
                 "rating range", "1 – 5", "age, gender, occupation, zip_code", "title, year, genres"):
        assert text in out


def test_info_json_matches_summary(capsys, atomic_dir):
    from recfair.data import fingerprint, load_atomic

    code, out, _ = run_cli(capsys, "data", "info", str(atomic_dir), "--json")
    ds = load_atomic(atomic_dir)
    assert code == 0 and json.loads(out) == {**ds.summary(), "fingerprint": fingerprint(ds)}


def test_info_rows_implicit():
    rows = dict(info_rows({"name": "x", "users": 1, "users_with_interactions": 1, "items": 2,
                           "items_with_interactions": 1, "interactions": 1, "density": 0.5, "has_rating": False,
                           "has_timestamp": False, "user_attributes": [], "item_attributes": ["title"]}))
    assert rows["rating range"] == "none (implicit feedback)" and rows["user attributes"] == "none"


def test_csv_options(capsys, tmp_path, write):
    p = write(tmp_path / "r.txt", "a;b;r\n1;2;5\n1;3;4\n")
    code, out, err = run_cli(capsys, "data", "info", str(p), "--sep", ";", "--user-col", "a",
                              "--item-col", "b", "--rating-col", "r")
    assert code == 0, err
    assert "4 – 5" in out


@pytest.mark.parametrize(
    "content, detail",
    [
        ("user_id;item_id\n1;2\n", V.WRONG_DELIMITER.format(found="user_id;item_id", n=2, sep=",", other=";")),
        ("", V.EMPTY_FILE.format(what="a file of interactions")),
        ("user_id,item_id\n", V.NO_ROWS.format(what="interaction")),
        ("user_id,item_id\n1,2\n1,2\n", V.DUPLICATE_PAIR.format(user="1", item="2", first=2, policy="error")),
        ("user_id,item_id,rating\n1,2,x\n", V.NOT_NUMERIC.format(expected="a numeric rating", value="x")),
        ("user,thing\n1,2\n", V.MISSING_COLUMN.format(column="item_id", expected=["user_id", "item_id"],
                                                      found=["user", "thing"])),
    ],
)
def test_malformed_input_one_line_exit_2(capsys, tmp_path, write, content, detail):
    p = write(tmp_path / "bad.csv", content)
    args = ["data", "info", str(p)]
    if content.startswith("user,thing"):
        args += ["--item-col", "item_id", "--user-col", "user"]
        detail = V.MISSING_COLUMN.format(column="item_id", expected=["user", "item_id"], found=["user", "thing"])
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("Error: ") and detail in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_name_and_bad_policy(capsys):
    code, _, err = run_cli(capsys, "data", "info", "no-such-data-set")
    assert code == 2 and "unknown data set 'no-such-data-set'" in err
    code, _, err = run_cli(capsys, "data", "info", "synthetic", "--duplicates", "first")
    assert code == 2 and "option 'duplicates' does not apply to the synthetic data set" in err
    code, _, err = run_cli(capsys, "data", "info", "ml-100k", "--duplicates", "sum")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_real_process_exit_code(tmp_path, write):
    p = write(tmp_path / "bad.csv", "user_id;item_id\n1;2\n")
    res = subprocess.run([sys.executable, "-m", "recfair", "data", "info", str(p)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == f"Error: {p}:1: " + V.WRONG_DELIMITER.format(
        found="user_id;item_id", n=2, sep=",", other=";")


def test_data_app_is_exported():
    assert "info" in [c.name for c in data_app.registered_commands]
