"""Benchmark the feedback-loop simulator on ML-100K (issue 13).

10 rounds × {Popularity, BPR-MF, BPR-MF + content mapping, lm-frozen} × {unmitigated,
FA*IR re-ranking ("fair", protecting the popularity tail)} × 3 seeds = 24 trajectories,
target ≤ 15 minutes on a 2-core machine.  One MF oracle (fitted once, seed 0) is the
ground truth of every trajectory; rank-decay choice ``exp(−0.1·rank) × preference``;
10% of users and 10% of items (the latest) arrive during the run.  Models are re-trained
every ``--retrain-every`` rounds (BPR from scratch; lm-frozen warm-started for
``fine_tune_epochs`` epochs and observing every round in between).

Prints the oracle's fit, seconds per trajectory, the load average, and the drift table
(first round, last round, change last − first with a 95% CI across seeds).

Usage::

    nice .venv/bin/python bench/bench_simulation.py                     # the issue's set-up
    nice .venv/bin/python bench/bench_simulation.py --seeds 1 --rounds 3 # a smoke run
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from recfair.data import load_dataset
from recfair.models.config import RuntimeOptions
from recfair.simulation import MitigationSpec, SimulationConfig, SimulationRun
from recfair.simulation.oracle import fit_oracle
from recfair.simulation.run import run_simulation
from recfair.simulation.study import HEADLINE_METRICS, headline_table

MODELS = {
    "popularity": ("popularity", {}, False),
    "bpr": ("bpr", {"epochs": 5, "embedding_size": 32}, False),
    "bpr+mapping": ("bpr", {"epochs": 5, "embedding_size": 32}, True),
    "lm-frozen": ("lm-frozen", {"epochs": 2, "n_negatives": 256, "fold_in_epochs": 30}, False),
}
MITIGATION = MitigationSpec(stage="post", name="fair")
EXTRA = ("share_worse:gender=F", "share_worse:gender=M", "new_user_accuracy:gender=F", "new_user_accuracy:gender=M",
         "rounds_to_first_exposure", "accept_rate")


def main() -> None:
    """Run the grid and print the drift table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--retrain-every", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--csv", default=None, help="write every rounds row here")
    args = ap.parse_args()
    t_start = time.perf_counter()
    data = load_dataset("ml-100k")
    base = dict(rounds=args.rounds, retrain_every=args.retrain_every, n_candidates=50, n_bootstrap=100)
    oracle_cfg = SimulationConfig(**base).oracle
    t0 = time.perf_counter()
    oracle = fit_oracle(data, oracle_cfg, seed=0)
    print(f"oracle ({time.perf_counter() - t0:.1f}s): " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else
                                                                  f"{k}={v}" for k, v in oracle.fit.items()))
    runtime = RuntimeOptions(threads=1, progress=False)
    frames = []
    for seed in range(args.seeds):
        for label in args.models.split(","):
            model, params, mapping = MODELS[label]
            cfg = SimulationConfig(**base, content_mapping=mapping,
                                   retrain="warm" if model.startswith("lm-") else "scratch")
            for mit in (None, MITIGATION):
                run = SimulationRun(model=model, params=params, mitigation=mit, seed=seed)
                t0 = time.perf_counter()
                rows = run_simulation(data, cfg, run, oracle=oracle, runtime=runtime)
                series = label + ("+fair" if mit else "")
                print(f"seed {seed} {series:<18} {time.perf_counter() - t0:6.1f}s  load {os.getloadavg()[0]:.1f}",
                      flush=True)
                frames.append(rows.assign(series=series, seed=seed))
    rows = pd.concat(frames, ignore_index=True)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    table = headline_table(rows, HEADLINE_METRICS + EXTRA)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(table.round(4).to_string(index=False))
    print(f"total {time.perf_counter() - t_start:.0f}s on {os.cpu_count()} cores, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
