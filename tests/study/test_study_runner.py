"""The study runner end to end: cells, resume, failures, SIGKILL at several points, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recfair.study.cells import expand_cells
from recfair.study.config import load_study_config, parse_study_config
from recfair.study.queries import study_status
from recfair.study.runner import PARENT_FAILED, compare_pairs, run_study
from recfair.study.store import Store
from tests.study.study_config import TINY, write_config

KILLER = Path(__file__).with_name("study_killer.py")
ROOT = Path(__file__).resolve().parents[2]
#: Tables compared between runs (sorted, so row order does not matter).
NUMBERS = ("user_metrics", "group_metrics", "gaps", "strata_gaps", "item_exposure", "overall", "comparisons")


def snapshot(root: Path) -> dict[str, pd.DataFrame]:
    """Every numeric table of a store, sorted by all columns."""
    with Store(root, read_only=True) as store:
        out = {}
        for name in NUMBERS:
            frame = store.table(name)
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        cells = store.cells()
        out["cells"] = cells[["cell_id", "status", "model", "mitigation", "seed"]].sort_values("cell_id").reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted run of the tiny study (threads=1, as the killer uses)."""
    folder = tmp_path_factory.mktemp("ref")
    cfg = write_config(folder)
    result = run_study(load_study_config(cfg), folder / "st", progress=False, threads=1)
    assert result.failed == 0 and result.ran == result.planned
    return cfg, folder / "st"


def test_cells_ids_order_and_pairs():
    cfg = parse_study_config(TINY, "s.toml")
    cells = expand_cells(cfg)
    assert [(c.model, c.mitigation) for c in cells] == [
        ("popularity", "none"), ("bpr", "none"), ("bpr", "group-gap:gender"), ("popularity", "ugf"), ("bpr", "ugf")]
    assert [c.cell_id for c in cells] == [c.cell_id for c in expand_cells(cfg)]  # ids are stable
    assert cells[3].parent_id == cells[0].cell_id and cells[4].parent_id == cells[1].cell_id
    assert cells[0].baseline_id == cells[1].cell_id and cells[1].baseline_id is None
    assert cells[1].params["seed"] == 0 and cells[1].params["learning_rate"] == 0.01  # defaults filled
    changed = expand_cells(parse_study_config(TINY.replace("epochs = 2", "epochs = 3"), "s.toml"))
    assert changed[0].cell_id == cells[0].cell_id and changed[1].cell_id != cells[1].cell_id
    assert (cells[0].cell_id, cells[3].cell_id) in compare_pairs(cells)


def test_quick_study_stores_every_table_and_resumes(reference):
    cfg, root = reference
    status = study_status(root)
    assert status["status"].tolist() == ["done"] * 5
    snap = snapshot(root)
    for name in NUMBERS:
        assert len(snap[name]), name
    with Store(root, read_only=True) as store:
        assert (store.cells_dir / status["cell_id"][1] / "model").is_dir()
        recs = pd.read_parquet(store.cells_dir / status["cell_id"][3] / "recommendations.parquet")
        assert {"user_id", "item_id"} <= set(recs.columns) and recs.groupby("user").size().max() == 10
    again = run_study(load_study_config(cfg), root, progress=False, threads=1)
    assert (again.ran, again.skipped) == (0, 5)


def test_a_failing_cell_is_stored_and_its_children_fail_too(tmp_path):
    text = TINY.replace("[models.bpr]\n", "[models.bpr]\nbatch_size = 1\nlearning_rate = 1e308\n")
    text = text.replace("epochs = 2", "epochs = 1")
    cfg = write_config(tmp_path, text.replace("seeds = [0]", "seeds = [0]\nbaseline = \"popularity\"")
                       .replace('baseline = "bpr"\n', ""))
    result = run_study(load_study_config(cfg), tmp_path / "st", progress=False, threads=1)
    status = study_status(tmp_path / "st").set_index(["model", "mitigation"])["status"]
    assert status[("popularity", "none")] == "done" and status[("popularity", "ugf")] == "done"
    if status[("bpr", "none")] == "failed":  # a diverging fit raises; its re-ranked child cannot run
        errors = study_status(tmp_path / "st").set_index(["model", "mitigation"])["error"]
        assert errors[("bpr", "ugf")].startswith(PARENT_FAILED.split("{")[0])
        assert result.failed >= 2


@pytest.mark.parametrize("kill_at", [(1, "renamed"), (2, "inserted"), (4, "committed")])
def test_sigkill_then_resume_gives_every_cell_once_with_identical_numbers(tmp_path, reference, kill_at):
    cfg, ref_root = reference
    out = tmp_path / "st"
    n, step = kill_at
    killed = subprocess.run([sys.executable, str(KILLER), str(cfg), str(out), str(n), step], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    done = subprocess.run([sys.executable, str(KILLER), str(cfg), str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got, want = snapshot(out), snapshot(ref_root)
    assert got["cells"]["cell_id"].is_unique and len(got["cells"]) == 5
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
    leftovers = [p.name for p in (out / "cells").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_cli_run_status_report_compare(tmp_path, reference):
    cfg, _ = reference
    out = tmp_path / "st"
    run = subprocess.run([sys.executable, "-m", "recfair", "study", "run", str(cfg), "--out", str(out),
                          "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"store: {out / 'study.duckdb'}" in run.stdout and "model × mitigation" in run.stdout
    status = subprocess.run([sys.executable, "-m", "recfair", "study", "status", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    lines = status.stdout.strip().splitlines()
    assert len(lines) == 5 and lines[0].split()[1:] == ["popularity", "none", "seed=0", "done"]
    a, b = lines[1].split()[0], lines[2].split()[0]
    cmp = subprocess.run([sys.executable, "-m", "recfair", "compare", str(out), a, b, "--groups", "gender"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cmp.returncode == 0 and "share_worse" in cmp.stdout, cmp.stderr
    rep = subprocess.run([sys.executable, "-m", "recfair", "report", str(out), "-o", str(tmp_path / "r.html")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0 and (tmp_path / "r.html").stat().st_size > 10_000
