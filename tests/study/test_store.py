"""The DuckDB study store: round trips, validation, recovery, and kill -9 at every commit step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recfair.errors import RecfairError
from recfair.study.schema import SCHEMA
from recfair.study.store import (
    BAD_CELL_ID,
    CELL_DONE,
    EXTRA_COLUMN,
    MISSING_COLUMN,
    NO_STORE,
    NOT_DONE,
    READ_ONLY,
    STATUS_COLUMNS,
    STORE_FILE,
    STORE_LOCKED,
    UNKNOWN_CELL_KEY,
    UNKNOWN_TABLE,
    Store,
)
from tests.study.store_writer import cell_tables

WRITER = Path(__file__).with_name("store_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def tables() -> dict[str, pd.DataFrame]:
    return {
        "overall": pd.DataFrame({"metric": ["ndcg@10", "gini"], "value": [0.2, 0.9]}),
        "user_metrics": pd.DataFrame({"user_id": ["u1", "u2", "u1", "u2"], "metric": ["ndcg@10"] * 2 + ["recall@10"] * 2,
                                      "k": [10] * 4, "value": [0.1, 0.3, 0.5, 1.0]}),
        "user_groups": pd.DataFrame({"user_id": ["u1", "u2", "u1"], "attribute": ["gender", "gender", "age"],
                                     "group": ["F", "M", "18-24"]}),
    }


def test_commit_and_read_back(tmp_path):
    with Store(tmp_path) as store:
        work = store.staging_dir("c1")
        (work / "model.json").write_text("{}")
        cell = {"cell_id": "c1", "model": "bpr", "seed": 0, "params": {"b": 2, "a": 1}, "versions": {"recfair": "0.1"}}
        store.commit_cell(cell, tables(), work)
        assert store.is_done("c1") and store.done_ids() == {"c1"}
        assert not work.exists() and (tmp_path / "cells" / "c1" / "model.json").read_text() == "{}"
        row = store.cells().iloc[0]
        assert (row["params"], row["status"], row["artefacts"]) == ('{"a":1,"b":2}', "done", "cells/c1")
        wide = store.per_user("c1")
        assert list(wide.columns) == ["ndcg@10", "recall@10"] and wide.loc["u2", "recall@10"] == 1.0
        groups = store.user_groups("c1")
        assert groups.loc["u1"].tolist() == ["F", "18-24"] and pd.isna(groups.loc["u2", "age"])
        assert store.table("overall", ["c1"])["value"].tolist() == [0.2, 0.9]
        assert list(store.table("gaps").columns)[0] == "cell_id"
    with Store(tmp_path, read_only=True) as store:
        assert store.per_user("c1").shape == (2, 2)
        with pytest.raises(RecfairError) as info:
            store.commit_cell({"cell_id": "c2"})
        assert str(info.value) == READ_ONLY


def test_done_cell_is_never_written_twice_and_failures_can_be_retried(tmp_path):
    with Store(tmp_path) as store:
        store.record_failure({"cell_id": "c1", "model": "mf", "seed": 1}, ValueError("boom"))
        status = store.status()
        assert list(status.columns) == list(STATUS_COLUMNS)
        assert status.iloc[0][["status", "error"]].tolist() == ["failed", "ValueError: boom"]
        store.commit_cell({"cell_id": "c1", "model": "mf", "seed": 1}, tables())
        assert store.status()["status"].tolist() == ["done"]
        with pytest.raises(RecfairError) as info:
            store.commit_cell({"cell_id": "c1", "model": "mf", "seed": 1}, tables())
        assert str(info.value) == CELL_DONE.format(cell_id="c1")
        assert len(store.table("user_metrics")) == 4  # no duplicate rows


def test_status_lists_pending_cells_first(tmp_path):
    with Store(tmp_path) as store:
        store.commit_cell({"cell_id": "b", "model": "bpr", "mitigation": "none", "seed": 0}, {})
        plan = [{"cell_id": "a", "model": "pop", "mitigation": "none", "seed": 0}, {"cell_id": "b"}]
        status = store.status(plan)
    assert status[["cell_id", "status"]].values.tolist() == [["a", "pending"], ["b", "done"]]
    assert status.loc[1, "model"] == "bpr"


@pytest.mark.parametrize("name, frame, message", [
    ("nope", pd.DataFrame(), UNKNOWN_TABLE.format(name="nope", tables="overall, user_metrics, user_groups, "
                                                  "group_metrics, gaps, strata_gaps, item_exposure, item_fairness, "
                                                  "probe, probe_summary, rounds")),
    ("overall", pd.DataFrame({"metric": ["x"]}), MISSING_COLUMN.format(name="overall", column="value",
                                                                        present=["metric"])),
    ("overall", pd.DataFrame({"metric": ["x"], "value": [1.0], "extra": [1]}),
     EXTRA_COLUMN.format(name="overall", column="extra", allowed="metric, value")),
])
def test_bad_tables_are_rejected_before_anything_is_written(tmp_path, name, frame, message):
    with Store(tmp_path) as store:
        work = store.staging_dir("c1")
        with pytest.raises(RecfairError) as info:
            store.commit_cell({"cell_id": "c1"}, {name: frame}, work)
        assert str(info.value) == message
        assert work.exists() and not (tmp_path / "cells" / "c1").exists() and store.done_ids() == set()


def test_bad_cells_are_rejected(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(RecfairError) as info:
            store.commit_cell({"cell_id": "../x"})
        assert str(info.value) == BAD_CELL_ID.format(value="../x")
        with pytest.raises(RecfairError) as info:
            store.commit_cell({"cell_id": "c1", "modle": "bpr"})
        assert str(info.value).startswith(UNKNOWN_CELL_KEY.format(key="modle", allowed="")[:-1])
        with pytest.raises(RecfairError) as info:
            store.put_comparison("c1", "c2", {})
        assert str(info.value) == NOT_DONE.format(cell_id="c1")
    with pytest.raises(RecfairError) as info:
        Store(tmp_path / "missing", read_only=True)
    assert str(info.value) == NO_STORE.format(path=tmp_path / "missing" / STORE_FILE)


def test_comparisons_replace_and_parquet_export_covers_every_table(tmp_path):
    from recfair.fairness.compare import compare_users

    a = pd.DataFrame({"ndcg@10": [0.1, 0.2, 0.3]}, index=["u1", "u2", "u3"])
    res = compare_users(a, a + 0.1, n_bootstrap=20, n_permutations=20)
    with Store(tmp_path) as store:
        for cid in ("a", "b"):
            store.commit_cell({"cell_id": cid}, tables())
        for _ in range(2):
            store.put_comparison("a", "b", {"comparisons": res.groups, "comparison_gaps": res.gaps})
        stored = store.table("comparisons", ["b"])
        assert len(stored) == 1 and stored.loc[0, "delta"] == pytest.approx(0.1)
        paths = store.export_parquet(tmp_path / "export")
    assert [p.stem for p in paths] == list(SCHEMA)
    assert len(pd.read_parquet(tmp_path / "export" / "user_metrics.parquet")) == 8
    assert list(pd.read_parquet(tmp_path / "export" / "comparisons.parquet").columns)[:3] == ["cell_a", "cell_b",
                                                                                              "attribute"]


def test_open_removes_staging_and_orphan_folders(tmp_path):
    with Store(tmp_path) as store:
        store.commit_cell({"cell_id": "kept"}, {}, store.staging_dir("kept"))
    (tmp_path / "cells" / ".tmp-x-123").mkdir()
    (tmp_path / "cells" / "orphan").mkdir()
    with Store(tmp_path) as store:
        assert store.recovered == (".tmp-x-123", "orphan")
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["kept"]


def run_writer(root: Path, n_cells: int, *kill) -> int:
    args = [sys.executable, str(WRITER), str(root), str(n_cells), *map(str, kill)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, timeout=120).returncode


def snapshot(root: Path) -> dict:
    with Store(root, read_only=True) as store:
        cells = store.cells()[["cell_id", "status", "seed", "artefacts"]]
        rows = store.table("user_metrics").sort_values(["cell_id", "metric", "user_id"]).reset_index(drop=True)
    return {"cells": cells, "rows": rows, "folders": sorted(p.name for p in (root / "cells").iterdir())}


@pytest.mark.parametrize("point", ["staged", "renamed", "inserted", "committed"])
def test_kill_9_leaves_no_half_cell_and_resume_matches_a_clean_run(tmp_path, point):
    clean = tmp_path / "clean"
    assert run_writer(clean, 3) == 0
    crashed = tmp_path / "crashed"
    assert run_writer(crashed, 3, 1, point) == -9
    with Store(crashed) as store:  # reopening recovers
        done = store.done_ids()
        expected = {"cell-0", "cell-1"} if point == "committed" else {"cell-0"}
        assert done == expected
        assert set(store.table("user_metrics")["cell_id"]) == expected  # no rows of a half cell
        assert sorted(p.name for p in (crashed / "cells").iterdir()) == sorted(expected)
    assert run_writer(crashed, 3) == 0
    before, after = snapshot(clean), snapshot(crashed)
    assert before["folders"] == after["folders"] == ["cell-0", "cell-1", "cell-2"]
    pd.testing.assert_frame_equal(before["cells"].sort_values("cell_id").reset_index(drop=True),
                                  after["cells"].sort_values("cell_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(before["rows"], after["rows"])
    assert len(after["rows"]) == 3 * len(cell_tables(0)["user_metrics"])


def test_a_second_writer_is_refused(tmp_path):
    with Store(tmp_path):
        code = f"from recfair.study.store import Store; Store({str(tmp_path)!r})"
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert STORE_LOCKED.format(path=tmp_path / STORE_FILE) in proc.stderr
