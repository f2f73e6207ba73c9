"""Feedback-loop simulation: recommenders re-trained on data their own recommendations shaped.

* :mod:`~recfair.simulation.config` — typed settings (the ``[simulation]`` section);
* :mod:`~recfair.simulation.oracle` — the ground truth (MF or planted preferences);
* :mod:`~recfair.simulation.choice` — rank-decay, cascade and logit choice models;
* :mod:`~recfair.simulation.world` — arrivals of users and items, the interaction log;
* :mod:`~recfair.simulation.mapping` — content → collaborative mapping for new items;
* :mod:`~recfair.simulation.engine` — the loop (:class:`Simulator`);
* :mod:`~recfair.simulation.drift` — the per-round drift metrics;
* :mod:`~recfair.simulation.run` — resumable runs writing a study store's ``rounds``;
* :mod:`~recfair.simulation.summary` — drift tables with CIs across seeds.

This layer sits next to ``study``; nothing below it imports it.
"""

from recfair.simulation.config import (
    ArrivalConfig,
    ChoiceConfig,
    MitigationSpec,
    OracleConfig,
    SimulationConfig,
    SimulationRun,
    parse_simulation,
)

__all__ = [
    "ArrivalConfig", "ChoiceConfig", "MitigationSpec", "OracleConfig", "SimulationConfig", "SimulationRun",
    "parse_simulation",
]
