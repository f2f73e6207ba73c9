"""Run a study and SIGKILL this process at the N-th commit step (a crash-test helper).

Usage: python study_killer.py CONFIG OUT [N STEP]  (no N: run to the end).
"""

from __future__ import annotations

import os
import signal
import sys

from recfair.study.config import load_study_config
from recfair.study.runner import run_study


def main() -> None:
    """Parse argv, run, and kill at the asked step."""
    config, out = sys.argv[1], sys.argv[2]
    target = int(sys.argv[3]) if len(sys.argv) > 3 else None
    step_name = sys.argv[4] if len(sys.argv) > 4 else "committed"
    seen = {"n": 0}

    def on_step(step: str) -> None:
        if step == step_name:
            seen["n"] += 1
            if seen["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)

    run_study(load_study_config(config), out, progress=False, threads=1, on_step=on_step)


if __name__ == "__main__":
    main()
