"""Small synthetic worlds for the simulation tests (fast: a few hundred users and items)."""

from __future__ import annotations

from recfair.data.synthetic import make_synthetic
from recfair.simulation import OracleConfig, SimulationConfig

#: make_synthetic arguments of the test data (the planted oracle needs them too).
SYN = dict(n_users=240, n_items=160, n_interactions=4000, seed=1)


def tiny_data():
    """The test data set."""
    return make_synthetic(**SYN)


def tiny_config(**overrides) -> SimulationConfig:
    """A short simulation on :func:`tiny_data` with the planted oracle."""
    base = dict(rounds=6, oracle=OracleConfig(kind="planted", synthetic=SYN), groups=["gender", "activity"],
                pairs=500, n_bootstrap=20)
    base.update(overrides)
    return SimulationConfig(**base)
