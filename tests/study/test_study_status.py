"""`recfair study status` reads a store while a runner is using it; a second runner is refused."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import recfair.study.backends as backends
from recfair.study.config import load_study_config
from recfair.study.runner import run_study
from recfair.study.store import Store
from recfair.study.writer import RUN_LOCKED, StoreWriter
from tests.study.study_config import write_config

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recfair", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_status_and_second_runner_while_a_study_runs(tmp_path, monkeypatch):
    cfg = write_config(tmp_path)
    out = tmp_path / "st"
    seen: list[subprocess.CompletedProcess] = []
    real = backends.run_cell

    def run_cell(cell, parent, threads):  # before the 2nd cell: the 1st is committed, the runner holds the study
        if len(seen) == 0 and (out / "cells").exists() and any((out / "cells").iterdir()):
            seen.append(_cli("study", "status", str(out)))
            seen.append(_cli("study", "run", str(cfg), "--out", str(out), "--threads", "1"))
        return real(cell, parent, threads)

    monkeypatch.setattr(backends, "run_cell", run_cell)
    result = run_study(load_study_config(cfg), out, progress=False, threads=1)
    assert result.failed == 0
    status, second = seen
    assert status.returncode == 0, status.stderr[-2000:]
    states = [line.split()[-1] for line in status.stdout.strip().splitlines()]
    assert states[0] == "done" and states.count("done") == 1 and states.count("pending") == result.planned - 1
    assert second.returncode != 0
    expected = RUN_LOCKED.format(root=out, path=out / ".runner.lock")
    assert " ".join(expected.split()[:8]) in " ".join(second.stderr.split())
    assert _cli("study", "status", str(out)).stdout.count(" done") == result.planned


def test_a_reader_waits_while_a_commit_holds_the_file(tmp_path):
    writer = StoreWriter(tmp_path).acquire()
    session = writer.session()
    session.__enter__()  # the file is open for writing, as during a commit

    def close_soon() -> None:
        time.sleep(2.0)
        session.__exit__(None, None, None)

    threading.Thread(target=close_soon).start()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "recfair", "study", "status", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert time.perf_counter() - t0 >= 1.0  # it waited for the commit, then read
    writer.release()
    with Store(tmp_path, read_only=True) as store:
        assert store.done_ids() == set()
