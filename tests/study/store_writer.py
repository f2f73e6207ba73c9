"""A study-store writer run as a subprocess by the crash tests.

    python store_writer.py ROOT N_CELLS [KILL_CELL KILL_POINT]

Commits cells ``cell-0`` … ``cell-{N-1}`` that are not done yet, each with an
artefact file and ``ROWS`` user-metric rows whose values depend only on the
cell number (so a resumed run must reproduce an uninterrupted one exactly).
At cell ``KILL_CELL`` it sends itself SIGKILL at ``KILL_POINT``: ``staged``
(artefacts written, not renamed), ``renamed``, ``inserted`` (rows inserted,
transaction open) or ``committed``.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pandas as pd

from recfair.study.store import Store

ROWS = 20_000


def cell_tables(i: int) -> dict[str, pd.DataFrame]:
    """Deterministic rows of cell ``i``."""
    rng = np.random.default_rng(i)
    users = np.arange(ROWS // 2).astype(str)
    per_user = pd.DataFrame({
        "user_id": np.concatenate([users, users]),
        "metric": ["ndcg@10"] * users.size + ["recall@10"] * users.size,
        "k": 10,
        "value": rng.random(ROWS),
    })
    overall = per_user.groupby("metric", sort=True)["value"].mean().reset_index()
    return {"user_metrics": per_user, "overall": overall}


def main(root: str, n_cells: int, kill_cell: int = -1, kill_point: str = "") -> None:
    """Commit the missing cells, dying where asked."""

    def die(step: str) -> None:
        if i == kill_cell and step == kill_point:
            os.kill(os.getpid(), signal.SIGKILL)

    with Store(root) as store:
        for i in range(n_cells):
            cid = f"cell-{i}"
            if store.is_done(cid):
                continue
            work = store.staging_dir(cid)
            (work / "recommendations.txt").write_text(f"lists of {cid}\n")
            die("staged")
            store.commit_cell({"cell_id": cid, "model": "bpr", "seed": i}, cell_tables(i), work, on_step=die)


if __name__ == "__main__":
    args = sys.argv[1:]
    kill = (int(args[2]), args[3]) if len(args) > 2 else (-1, "")
    main(args[0], int(args[1]), *kill)
