"""Simulations of a study config: the ``[simulation]`` section × the study's models, mitigations and seeds.

``recfair simulate CONFIG`` reads a study TOML whose ``[simulation]`` table
(and sub-tables ``[simulation.choice]``, ``[simulation.oracle]``,
``[simulation.arrivals]``) is a :class:`~recfair.simulation.config.SimulationConfig`.
Every model of the study runs unmitigated (when ``unmitigated``) and with every
mitigation that applies to it (each λ), for every seed: one trajectory each,
stored as one cell of the study's store (``cells`` row + ``rounds`` rows), so
``recfair report`` draws the drift lines.  Trajectories already done are
skipped; one in progress resumes after its last complete round.

The section is validated with the rest of the file by
:func:`recfair.study.config.parse_study_config` (its problems name key and line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from recfair.simulation.config import MitigationSpec, SimulationConfig, SimulationRun
from recfair.simulation.run import STATE_DIR, StoreRounds, discard_state, run_simulation, simulation_cell_id

__all__ = ["HEADLINE_METRICS", "NO_SIMULATION", "SimulationStudy", "SimulateResult", "headline_table",
           "load_simulation_study", "plan_simulations", "simulate_study", "stored_trajectories"]

NO_SIMULATION = "{path}: no [simulation] section; add one (even empty) to simulate this study."


@dataclass
class SimulationStudy:
    """A parsed study config plus its simulation settings."""

    study: Any
    simulation: SimulationConfig
    base_dir: Path


@dataclass
class SimulateResult:
    """What ``simulate_study`` did: the store folder, counts, and the rounds rows of every trajectory."""

    root: Path
    planned: int
    ran: int = 0
    skipped: int = 0
    rows: list[pd.DataFrame] = field(default_factory=list)


def load_simulation_study(path: str | Path) -> SimulationStudy:
    """Read and check a study config with a ``[simulation]`` section."""
    from recfair.errors import RecfairError
    from recfair.study.config import load_study_config

    path = Path(path)
    study = load_study_config(path)
    if study.simulation is None:
        raise RecfairError(NO_SIMULATION.format(path=path))
    return SimulationStudy(study, study.simulation, path.resolve().parent)


def plan_simulations(study: Any) -> list[SimulationRun]:
    """Every trajectory of a study: model × (unmitigated + applicable mitigations × λ) × seed."""
    from recfair.study.config_check import mitigation_models

    runs = []
    for seed in study.seeds:
        for model, params in study.models.items():
            if study.unmitigated:
                runs.append(SimulationRun(model=model, params=dict(params), seed=seed))
            for m in study.mitigations:
                if model not in mitigation_models(m, list(study.models)):
                    continue
                for lam in (m.lambda_ if isinstance(m.lambda_, list) else [m.lambda_]):
                    spec = MitigationSpec(stage=m.stage, name=m.name, groups=m.groups, params=dict(m.params),
                                          **{"lambda": lam})
                    runs.append(SimulationRun(model=model, params=dict(params), mitigation=spec, seed=seed))
    return runs


def _cell_row(cell_id: str, data: Any, fp: str, sim: SimulationConfig, run: SimulationRun,
              started: str, seconds: float) -> dict[str, Any]:
    mit = run.mitigation
    return {
        "cell_id": cell_id, "dataset": data.name, "fingerprint": fp, "split": "simulation", "model": run.model,
        "params": run.params, "mitigation": f"{mit.stage}:{mit.name}" if mit else "none",
        "mitigation_params": mit.model_dump(mode="json", by_alias=True) if mit else {}, "seed": run.seed,
        "started": started, "seconds": {"simulation": round(seconds, 3)},
        "config": {"simulation": sim.model_dump(mode="json", by_alias=True)},
    }


def simulate_study(
    loaded: SimulationStudy,
    out: str | Path | None = None,
    *,
    on_run: Callable[[int, int, SimulationRun], None] | None = None,
    runtime: Any = None,
) -> SimulateResult:
    """Run every planned trajectory the store lacks (resuming a trajectory in progress)."""
    from recfair.data import fingerprint
    from recfair.simulation.oracle import fit_oracle
    from recfair.study.config_check import load_study_data
    from recfair.study.store import Store

    study, sim = loaded.study, loaded.simulation
    root = Path(out or study.out)
    if not root.is_absolute() and out is None:
        root = loaded.base_dir / root
    runs = plan_simulations(study)
    result = SimulateResult(root, planned=len(runs) * len(study.data))
    with Store(root) as store:
        for data_cfg in study.data:
            data = load_study_data(data_cfg.name, dict(data_cfg.options))
            fp = fingerprint(data)
            oracle = None
            for i, run in enumerate(runs):
                cell_id = simulation_cell_id(fp, sim, run)
                if store.is_done(cell_id):
                    result.skipped += 1
                    continue
                if on_run is not None:
                    on_run(i, len(runs), run)
                oracle = oracle or fit_oracle(data, sim.oracle, seed=0)
                state = root / STATE_DIR / cell_id
                started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S"), time.perf_counter()
                rows = run_simulation(data, sim, run, oracle=oracle, state_dir=state,
                                      sink=StoreRounds(store, cell_id), runtime=runtime)
                store.commit_cell(_cell_row(cell_id, data, fp, sim, run, started, time.perf_counter() - t0),
                                  {"rounds": rows}, state)
                discard_state(state)
                result.ran += 1
                result.rows.append(rows.assign(series=run.name(), seed=run.seed, dataset=data.name))
    return result


#: Metrics of the closing drift table (first round, last round, change with CI across seeds).
HEADLINE_METRICS = (
    "accuracy", "popularity", "gini_consumption", "gini_exposure", "coverage", "tail_exposure",
    "jaccard_consumed", "homogenisation", "gap:gender", "accuracy:gender=F", "accuracy:gender=M",
    "new_item_exposure", "new_items_exposed", "new_user_accuracy",
)


def stored_trajectories(root: str | Path) -> pd.DataFrame:
    """Every stored simulation trajectory's rows with ``series`` (model + mitigation) and ``seed``."""
    from recfair.study.store import Store

    with Store(root, read_only=True) as store:
        cells = store.cells()
        cells = cells[(cells["split"] == "simulation") & (cells["status"] == "done")]
        rounds = store.table("rounds", cells["cell_id"].tolist())
    label = {r.cell_id: r.model + ("" if r.mitigation in (None, "none") else f"+{r.mitigation}")
             for r in cells.itertuples()}
    seed = dict(zip(cells["cell_id"], cells["seed"]))
    return rounds.assign(series=rounds["cell_id"].map(label), seed=rounds["cell_id"].map(seed))


def headline_table(rows: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE_METRICS) -> pd.DataFrame:
    """First round, last round and change (CI across seeds) of the headline metrics, wide by metric."""
    from recfair.simulation.summary import change_table

    return change_table(rows, [m for m in metrics if m in set(rows["metric"])])
