"""Run a simulation trajectory, resumable per round, writing rounds into a study store.

State of a trajectory in progress lives in ``<study>/simulations/<cell_id>/``
(outside ``cells/``, which the store keeps for done cells only):

* ``log.parquet`` — the interaction log (user, item, round, source, timestamp);
* ``exposure.parquet`` / ``base.parquet`` — the drift tracker's state.

After round ``t`` the files are replaced atomically, then one DuckDB transaction
replaces the cell's ``rounds`` rows of round ``t``.  A round is complete iff its
rows are in the store; on restart the log is cut back to the last complete
round, first exposures after it are forgotten, the model is rebuilt by
replaying its updates (:meth:`Simulator.replay`) and the loop continues.  Every
round draws its randomness from ``(seed, round)``, so the resumed trajectory is
the uninterrupted one.  When the last round is done the cell is committed
(``cells`` row, every ``rounds`` row, the state folder as its artefacts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from recfair.simulation.config import SimulationConfig, SimulationRun
from recfair.simulation.engine import Simulator
from recfair.simulation.oracle import Oracle, fit_oracle
from recfair.simulation.world import make_world

__all__ = ["LOG_FILE", "STATE_DIR", "RoundSink", "StoreRounds", "rounds_frame", "run_simulation", "simulation_cell_id"]

STATE_DIR = "simulations"
LOG_FILE = "log.parquet"
TRACKER_FILES = ("exposure", "base")
ROUND_COLUMNS = ("round", "metric", "value")


def rounds_frame(t: int, metrics: dict[str, float]) -> pd.DataFrame:
    """A round's metrics as ``rounds`` table rows (``round, metric, value``)."""
    return pd.DataFrame({"round": np.full(len(metrics), t, np.int64), "metric": list(metrics),
                         "value": np.asarray(list(metrics.values()), dtype=np.float64)})


def simulation_cell_id(fingerprint: str, config: SimulationConfig, run: SimulationRun) -> str:
    """Hash of the data fingerprint, the environment and the run (same inputs ⇒ same id)."""
    from recfair.study.rows import canonical_json

    payload = canonical_json({"kind": "simulation", "fingerprint": fingerprint,
                              "config": config.model_dump(mode="json", by_alias=True),
                              "run": run.model_dump(mode="json", by_alias=True, exclude={"label"})})
    return "sim-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


class RoundSink:
    """Where complete rounds go (in memory by default); :class:`StoreRounds` writes a study store."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def last_round(self) -> int:
        """The last complete round (0: none)."""
        return int(max((f["round"].max() for f in self.frames), default=0))

    def rows(self) -> pd.DataFrame:
        """Every stored row."""
        return pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame(columns=ROUND_COLUMNS)

    def write(self, t: int, frame: pd.DataFrame) -> None:
        """Make round ``t`` complete."""
        self.frames.append(frame)


class StoreRounds(RoundSink):
    """Rounds of one cell in a study store's ``rounds`` table, one transaction per round."""

    def __init__(self, store: Any, cell_id: str) -> None:
        super().__init__()
        self.store, self.cell_id = store, cell_id

    def rows(self) -> pd.DataFrame:
        """The cell's stored rounds rows."""
        return self.store.con.execute(
            'SELECT "round", metric, value FROM rounds WHERE cell_id = ? ORDER BY rowid', [self.cell_id]).df()

    def last_round(self) -> int:
        """The last round with rows in the store (0: none)."""
        got = self.store.con.execute("SELECT max(\"round\") FROM rounds WHERE cell_id = ?", [self.cell_id]).fetchone()
        return int(got[0]) if got and got[0] is not None else 0

    def write(self, t: int, frame: pd.DataFrame) -> None:
        """Replace the cell's rows of round ``t`` and later in one transaction."""
        con = self.store.con
        con.begin()
        try:
            con.execute('DELETE FROM rounds WHERE cell_id = ? AND "round" >= ?', [self.cell_id, t])
            con.register("_recfair_round", frame.assign(cell_id=self.cell_id))
            con.execute('INSERT INTO rounds (cell_id, "round", metric, value) '
                        'SELECT cell_id, "round", metric, value FROM _recfair_round')
            con.unregister("_recfair_round")
            con.commit()
        except BaseException:
            con.rollback()
            raise


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_state(state_dir: Path, sim: Simulator) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_parquet(sim.log, state_dir / LOG_FILE)
    for name, frame in sim.tracker.state().items():
        _write_parquet(frame, state_dir / f"{name}.parquet")


def _restore(state_dir: Path, sim: Simulator, last: int) -> None:
    log = pd.read_parquet(state_dir / LOG_FILE)
    state = {name: pd.read_parquet(state_dir / f"{name}.parquet") for name in TRACKER_FILES}
    first = state["exposure"]["first_exposure"].to_numpy(np.int64).copy()
    first[first > last] = -1  # exposures of a round that never completed
    state["exposure"] = pd.DataFrame({"first_exposure": first})
    sim.tracker.load_state(state)
    sim.replay(log, last)


def run_simulation(
    dataset,
    config: SimulationConfig,
    run: SimulationRun,
    *,
    oracle: Oracle | None = None,
    state_dir: str | Path | None = None,
    sink: RoundSink | None = None,
    model_factory: Callable[[], Any] | None = None,
    runtime: Any = None,
    on_recommend: Callable[[int], None] | None = None,
    on_round: Callable[[int, pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Simulate ``config.rounds`` rounds of ``run`` on ``dataset``; return every ``rounds`` row.

    ``oracle`` defaults to :func:`fit_oracle` on ``dataset`` (seed 0: one ground
    truth for every seed of a study).  With ``state_dir`` and a ``sink`` holding
    complete rounds, the run continues after the sink's last round (resume).
    ``on_round(t, rows)`` is called after each complete round.
    """
    oracle = oracle or fit_oracle(dataset, config.oracle, seed=0)
    world = make_world(dataset, oracle, config, run.seed)
    sim = Simulator(world, config, run, model_factory=model_factory, runtime=runtime, on_recommend=on_recommend)
    sink = sink if sink is not None else RoundSink()
    state_path = Path(state_dir) if state_dir is not None else None
    last = sink.last_round()
    if last >= config.rounds:
        return sink.rows()
    if last > 0:
        if state_path is None or not (state_path / LOG_FILE).exists():
            raise FileNotFoundError(f"no simulation state to resume round {last + 1} from in {state_path}")
        _restore(state_path, sim, last)
    for t in range(last + 1, config.rounds + 1):
        frame = rounds_frame(t, sim.step(t))
        if state_path is not None:
            _save_state(state_path, sim)
        sink.write(t, frame)
        if on_round is not None:
            on_round(t, frame)
    return sink.rows()


def discard_state(state_dir: str | Path) -> None:
    """Remove a finished trajectory's state folder."""
    shutil.rmtree(state_dir, ignore_errors=True)
