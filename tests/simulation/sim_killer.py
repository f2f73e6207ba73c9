"""Run a simulation into a study store and SIGKILL this process after round N (a crash-test helper).

Usage: python sim_killer.py OUT [N]  (no N: run to the end).
"""

from __future__ import annotations

import os
import signal
import sys

from recfair.simulation import SimulationRun
from recfair.simulation.run import StoreRounds, run_simulation
from recfair.study.store import Store
from tests.simulation.helpers import tiny_config, tiny_data

CELL = "sim-test"
RUN = SimulationRun(model="bpr", params={"epochs": 3, "embedding_size": 8}, seed=3)
CONFIG = tiny_config(rounds=5, retrain_every=2)


def main() -> None:
    """Parse argv, run, and kill after the asked round."""
    out = sys.argv[1]
    kill_after = int(sys.argv[2]) if len(sys.argv) > 2 else None

    def on_round(t: int, frame) -> None:
        if t == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    with Store(out) as store:
        run_simulation(tiny_data(), CONFIG, RUN, state_dir=f"{out}/simulations/{CELL}",
                       sink=StoreRounds(store, CELL), on_round=on_round)


if __name__ == "__main__":
    main()
