"""Fault injection on run folders: kills at every write step, damaged artefacts, changed data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from recfair.errors import IntegrityError, RecfairError
from recfair.runs import DATA_CHANGED, RECS_FILE, RUN_FILE, Run, RunConfig, write_run
from recfair.runs.artifacts import (
    EXISTS,
    FAULT_ENV,
    FILE_CHANGED,
    MANIFEST_FILE,
    WRITE_STEPS,
    atomic_folder,
    check_target,
    verify_manifest,
)

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from recfair.data import make_synthetic
    from recfair.recommendations import Recommendations
    from recfair.runs import RunConfig, write_run

    class Model:  # stands in for a Recommender: no torch import, so the subprocess starts fast
        def save(self, path):
            path.mkdir()
            (path / "config.json").write_text("{}")
            (path / "weights.safetensors").write_bytes(bytes(range(256)) * 64)

    path, n = sys.argv[1], int(sys.argv[2])
    ds = make_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0)
    cfg = RunConfig("popularity", {}, "synthetic", protocol="random", seed=0, n_candidates=n,
                    data_options={"n_users": 60, "n_items": 40, "n_interactions": 600, "seed": 0})
    users = np.arange(10)
    items = np.tile(np.arange(n), (10, 1))
    write_run(path, cfg, Model(), Recommendations(users, items, -items.astype(float)), dataset=ds, force=True)
""")


def write(path, n: int, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, FAULT_ENV: fault or ""}
    return subprocess.run([sys.executable, "-c", WRITER, str(path), str(n)], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A verified run of the popularity model on a small synthetic data set (written in this process)."""
    from recfair.data import make_split, make_synthetic
    from recfair.models.registry import create_model

    ds = make_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0)
    cfg = RunConfig("popularity", {}, "synthetic", protocol="random", seed=0, n_candidates=12,
                    data_options={"n_users": 60, "n_items": 40, "n_interactions": 600, "seed": 0})
    sp = make_split(ds, "random", test_size=0.2, seed=0)
    model = create_model("popularity").fit(sp.train)
    path = tmp_path_factory.mktemp("runs") / "pop"
    return write_run(path, cfg, model, model.recommend(np.unique(sp.test.user), 12), dataset=ds)


def copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("step", WRITE_STEPS)
def test_kill_at_every_write_step_leaves_old_or_new(small_run, tmp_path, step):
    target = copy_run(small_run, tmp_path / "run")  # the old run: 12 candidates
    res = write(target, 15, fault=step)
    assert res.returncode == -9, res.stderr  # killed by SIGKILL at the step
    run = Run(target)  # recovers a moved-aside old run, then verifies every checksum
    expected = 12 if WRITE_STEPS.index(step) <= WRITE_STEPS.index("old-moved-aside") else 15
    assert run.config.n_candidates == expected
    assert run.recommendations().k == expected  # the lists belong to the same run as run.json
    with atomic_folder(target) as tmp:  # the next write cleans up what the kill left
        (tmp / RUN_FILE).write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_exception_inside_atomic_folder_leaves_target_untouched(tmp_path):
    target = tmp_path / "x"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "keep.txt").write_text("new")
        raise RuntimeError("boom")
    assert (target / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_folder(tmp_path / "u") as tmp:
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "u").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "u" / "a.txt").stat().st_mode & 0o777 == 0o640


def test_manifest_records_version_time_fingerprint_and_checksums(small_run):
    from recfair import __version__
    from recfair.data import fingerprint, make_synthetic

    m = json.loads((small_run / MANIFEST_FILE).read_text())
    assert m["recfair"] == __version__ and m["created"].endswith("+00:00")
    assert m["fingerprint"] == fingerprint(make_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0))
    assert {RUN_FILE, RECS_FILE, "model/config.json", "model/weights.safetensors"} <= set(m["files"])
    assert all(len(e["sha256"]) == 64 for e in m["files"].values())


def test_recommendations_carry_raw_ids(small_run):
    import pandas as pd

    df = pd.read_parquet(small_run / RECS_FILE)
    run = Run(small_run)
    assert list(df.columns) == ["user", "rank", "item", "score", "user_id", "item_id"]
    assert (df["user_id"] == run.dataset.user_ids[df["user"]].astype(str)).all()
    assert (df["item_id"] == run.dataset.item_ids[df["item"]].astype(str)).all()


@pytest.mark.parametrize("damage, name", [
    ("truncate", "model/weights.safetensors"),
    ("flip", RECS_FILE),
    ("truncate", RECS_FILE),
    ("delete", "model/config.json"),
])
def test_damaged_artefacts_are_refused_and_named(small_run, tmp_path, damage, name):
    run_dir = copy_run(small_run, tmp_path / "r")
    f = run_dir / name
    data = f.read_bytes()
    if damage == "truncate":
        f.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        f.write_bytes(data[:-20] + bytes(b ^ 0xFF for b in data[-20:]))
    else:
        f.unlink()
    with pytest.raises(IntegrityError) as exc:
        Run(run_dir)
    assert f"artefact '{name}'" in str(exc.value)


def test_edited_split_params_are_refused(small_run, tmp_path):
    run_dir = copy_run(small_run, tmp_path / "r")
    cfg = json.loads((run_dir / RUN_FILE).read_text())
    cfg["split"]["test_size"] = 0.5
    (run_dir / RUN_FILE).write_text(json.dumps(cfg, indent=2))
    with pytest.raises(IntegrityError) as exc:
        Run(run_dir)
    assert str(exc.value).startswith(FILE_CHANGED.format(path=run_dir, name=RUN_FILE, what="")[:60])


def test_changed_data_is_refused(tmp_path):
    from recfair.data import fingerprint, load_dataset, make_split
    from recfair.models.registry import create_model

    csv = tmp_path / "r.csv"
    rows = [(u, i, 1 + (u * i) % 5, 1000 + 10 * u + i) for u in range(8) for i in range(6) if (u + i) % 3]
    csv.write_text("user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    ds = load_dataset(str(csv))
    cfg = RunConfig("popularity", {}, str(csv), protocol="user-temporal", n_candidates=3)
    sp = make_split(ds, cfg.protocol, test_size=0.2, seed=0)
    model = create_model("popularity").fit(sp.train)
    run_dir = write_run(tmp_path / "run", cfg, model, model.recommend(np.unique(sp.test.user), 3), dataset=ds)
    # reverse the timestamps after training: same file size class, other split
    csv.write_text("user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{5000 - t}\n" for u, i, r, t in rows))
    run = Run(run_dir)
    with pytest.raises(IntegrityError) as exc:
        run.split
    now = fingerprint(load_dataset(str(csv)))
    assert str(exc.value) == DATA_CHANGED.format(dataset=str(csv), path=run_dir, now=now, then=run.fingerprint)


def test_overwrite_needs_force_and_foreign_folders_are_kept(small_run, tmp_path):
    with pytest.raises(RecfairError) as exc:
        check_target(small_run, force=False, marker=RUN_FILE)
    assert str(exc.value) == EXISTS.format(path=small_run)
    check_target(small_run, force=True, marker=RUN_FILE)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(RecfairError, match="non-empty folder that recfair did not write"):
        check_target(tmp_path / "mine", force=True, marker=RUN_FILE)
    verify_manifest(small_run)


def test_metrics_are_stored_per_k(small_run, tmp_path):
    from recfair.runs.pipeline import evaluate_run

    run = Run(copy_run(small_run, tmp_path / "r"))
    run.save_metrics(10, evaluate_run(run, 10))
    run.save_metrics(5, evaluate_run(run, 5))
    again = Run(run.path)  # the manifest covers metrics.json
    assert set(again.metrics()) == {"5", "10"} and "ndcg@10" in again.metrics()["10"]


def test_atomic_write_text_from_many_threads_at_once(tmp_path):
    # Each thread has its own temporary file (pid + thread id): with one name per process the
    # threads renamed each other's temporary file away (FileNotFoundError, seen in the serve ledger).
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from recfair.runs.artifacts import atomic_write_text

    target, start = tmp_path / "state.json", threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        for j in range(50):
            atomic_write_text(target, f"{i}-{j}")

    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(write, i) for i in range(8)]:
            f.result()  # re-raises a failed rename
    assert target.read_text().endswith("-49")
    assert not list(tmp_path.glob(".state.json.tmp-*"))
