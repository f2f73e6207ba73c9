"""Typed configuration of a feedback-loop simulation (the ``[simulation]`` section of a study).

Every section is a pydantic model with ``extra="forbid"``: an unknown key is an
error naming the closest valid key, never a warning.  Defaults give the
Mansoury-style set-up: rank-decay acceptance ``P(accept) = exp(−0.1·rank) ×
preference``, an MF oracle, 10 rounds, re-training every round from scratch.

>>> SimulationConfig(rounds=5, choice={"model": "cascade"}).choice.patience
0.8
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArrivalConfig", "ChoiceConfig", "MitigationSpec", "OracleConfig", "SimulationConfig", "SimulationRun",
    "parse_simulation",
]

#: Choice models (:mod:`recfair.simulation.choice`).
CHOICE_MODELS = ("rank-decay", "cascade", "logit")
#: How the model is re-trained every ``retrain_every`` rounds.
RETRAIN_MODES = ("scratch", "warm")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OracleConfig(_Strict):
    """The ground truth users' choices are drawn from (a modelling assumption; see docs/simulation.md).

    ``kind="mf"``: a ridge-regularised matrix factorisation fitted on every
    interaction of the data set; ``kind="planted"``: the synthetic generator's
    planted affinities (only for ``make_synthetic`` data, with ``synthetic`` the
    generator's arguments).  Either score is Platt-calibrated into a preference in
    (0, 1) against the observed interactions (``negatives`` unobserved pairs per
    observed one).
    """

    kind: Literal["mf", "planted"] = "mf"
    embedding_size: int = Field(16, ge=1, description="MF factors")
    reg: float = Field(20.0, gt=0, description="ridge weight of the MF (well regularised: large)")
    iterations: int = Field(8, ge=1, description="alternating least-squares sweeps")
    negatives: float = Field(1.0, gt=0, description="unobserved pairs per observed pair in the calibration")
    holdout: float = Field(0.1, ge=0, lt=1, description="share of interactions held out to report the fit")
    synthetic: dict[str, Any] = Field(default_factory=dict, description="make_synthetic arguments (kind=planted)")


class ChoiceConfig(_Strict):
    """How an active user reacts to a slate of ``k`` items."""

    model: Literal["rank-decay", "cascade", "logit"] = "rank-decay"
    decay: float = Field(0.1, ge=0, description="rank-decay: P(accept at rank r) = exp(-decay·r) × preference")
    patience: float = Field(0.8, ge=0, le=1, description="cascade: P(look at the next item after a skip)")
    outside: float = Field(1.0, gt=0, description="logit: weight of choosing nothing from the slate")
    organic: float = Field(0.1, ge=0, le=1, description="P(an active user also consumes one item found elsewhere)")
    active_share: float = Field(0.5, gt=0, le=1, description="mean share of users active in a round")


class ArrivalConfig(_Strict):
    """New users and items: held out of the initial log, released over the rounds."""

    new_users: float = Field(0.1, ge=0, lt=1, description="share of users held out and arriving during the run")
    new_items: float = Field(0.1, ge=0, lt=1, description="share of items (the latest released) held out")
    onboarding: int = Field(3, ge=0, description="items a new user picks on arrival (organic, from preference)")


class MitigationSpec(_Strict):
    """A mitigation inside the loop: stage ``pre`` (re-weigher), ``in`` (penalty) or ``post`` (re-ranker)."""

    stage: Literal["pre", "in", "post"]
    name: str = Field(min_length=1)
    groups: str | None = None
    lambda_: float | None = Field(None, alias="lambda")
    params: dict[str, Any] = Field(default_factory=dict)


class SimulationConfig(_Strict):
    """One simulated environment (the loop's settings); models and mitigations come with the run."""

    rounds: int = Field(10, ge=1, description="rounds of recommend → choose → append")
    retrain_every: int = Field(1, ge=1, description="re-train the model every r rounds")
    retrain: Literal["scratch", "warm"] = Field(
        "scratch", description="from scratch, or warm-started from the current weights (lm-* models)")
    fine_tune_epochs: int = Field(1, ge=1, description="epochs of a warm re-training")
    observe: bool = Field(True, description="lm-* models observe each round's interactions between re-trainings")
    content_mapping: bool = Field(False, description="BPR/MF score new items through a text→factor ridge map")
    mapping_reg: float = Field(1.0, gt=0, description="ridge weight of the content mapping")
    k: int = Field(10, ge=1, description="slate length")
    n_candidates: int = Field(50, ge=1, description="candidates a post-processing re-ranker chooses from")
    groups: list[str] = Field(["gender", "age", "activity"], description="user groupings whose gaps are tracked")
    pairs: int = Field(2000, ge=10, description="user pairs sampled for the Jaccard homogenisation")
    n_bootstrap: int = Field(200, ge=1, description="bootstrap resamples of the who-gains comparison")
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    choice: ChoiceConfig = Field(default_factory=ChoiceConfig)
    arrivals: ArrivalConfig = Field(default_factory=ArrivalConfig)


class SimulationRun(_Strict):
    """One trajectory: a model (+ mitigation) in an environment, for one seed."""

    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    mitigation: MitigationSpec | None = None
    seed: int = 0
    label: str | None = None

    def name(self) -> str:
        """A short label: ``model[+mitigation]``."""
        if self.label:
            return self.label
        return self.model + (f"+{self.mitigation.name}" if self.mitigation else "")


def parse_simulation(section: dict[str, Any] | None) -> SimulationConfig:
    """The ``[simulation]`` table of a study config as a :class:`SimulationConfig` (``None``: defaults)."""
    return SimulationConfig.model_validate(section or {})
