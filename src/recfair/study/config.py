"""A study's TOML configuration as typed, validated values.

:func:`load_study_config` reads a TOML file (``tomllib``) into a
:class:`StudyConfig` and checks it completely before anything runs: the shape
(pydantic, ``extra="forbid"`` everywhere), then the meaning
(:mod:`recfair.study.config_check`: registered models and mitigations, every
hyper-parameter validated by its component's typed ``Config``, user groups,
metrics, data paths).  Every problem becomes one line naming the file and TOML
line, the dotted key, the value, what is allowed and the closest valid key; all
lines are raised together as one :class:`StudyConfigError`.

A hyper-parameter given as a list is a grid (``epochs = [10, 20]``);
``lambda`` lists of a mitigation give trade-off curves.

>>> cfg = load_study_config(preset_path("quick"))   # doctest: +SKIP
>>> [m for m in cfg.models]                         # doctest: +SKIP
['popularity', 'bpr']
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recfair.data.split import SPLIT_PROTOCOLS
from recfair.errors import RecfairError
from recfair.simulation.config import SimulationConfig
from recfair.study.config_errors import format_problem, pydantic_problems

__all__ = [
    "AuditConfig", "DataConfig", "MitigationConfig", "PRESETS", "ProbeConfig", "SplitConfig", "StudyConfig",
    "StudyConfigError", "load_study_config", "parse_study_config", "preset_path", "preset_text",
]

#: Presets shipped in ``recfair/study/presets/``.
PRESETS = ("default", "quick")
#: Accuracy metrics a study may audit (per-user columns of :func:`recfair.metrics.evaluate`).
STUDY_METRICS = ("ndcg", "recall", "precision", "hit", "mrr", "map")
STAGES = ("pre", "in", "post")

UNREADABLE = "cannot read the study config: {error}"
BAD_TOML = "not valid TOML: {error}"
UNKNOWN_PRESET = "Unknown preset '{name}'. Choose one of: {choices}."


class StudyConfigError(RecfairError):
    """A study config with problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Strict(BaseModel):
    """Base of the study's config sections: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DataConfig(Strict):
    """One data set: a built-in name (``ml-100k``, ``synthetic``) or a path, plus loader options."""

    name: str = Field(min_length=1, description="built-in data set name or a path")
    options: dict[str, Any] = Field(default_factory=dict, description="loader options (e.g. n_users for synthetic)")


class SplitConfig(Strict):
    """One split protocol; the study's seeds seed it."""

    protocol: Literal[SPLIT_PROTOCOLS] = "user-temporal"  # type: ignore[valid-type]
    test_size: float = Field(0.2, gt=0, lt=1, description="share of each user's interactions held out")
    valid_size: float = Field(0.0, ge=0, lt=1, description="share of the training part held out for validation")


class MitigationConfig(Strict):
    """One mitigation: stage ``pre`` (re-weighing), ``in`` (penalty) or ``post`` (re-ranker).

    ``lambda`` may be a list (one cell per value: a trade-off curve).  ``models``
    restricts the models it applies to (default: every model that can take it).
    """

    stage: Literal["pre", "in", "post"]
    name: str = Field(min_length=1, description="registry name (recfair mitigations)")
    groups: str | None = Field(None, min_length=1, description="user group spec, for components that take one")
    lambda_: float | list[float] | None = Field(None, alias="lambda", description="weight λ, or a list of them")
    params: dict[str, Any] = Field(default_factory=dict, description="the component's other hyper-parameters")
    models: list[str] | None = Field(None, min_length=1, description="models it applies to (default: all that can)")


class AuditConfig(Strict):
    """How every cell is audited."""

    groups: list[str] = Field(["gender", "age", "activity"], min_length=1, description="user group specs")
    item_groups: list[str] = Field(["popularity", "tiers"], description="item group specs")
    n_bootstrap: int = Field(1000, ge=1, description="bootstrap resamples for CIs")
    n_permutations: int = Field(2000, ge=1, description="permutations for p-values")
    strata: int = Field(5, ge=1, description="activity strata for within-strata gaps")


class ProbeConfig(Strict):
    """The counterfactual probe: how a trained model's lists change when a user attribute changes.

    One probe cell per probed seed; it loads the unmitigated cell of ``model``
    (same data, split and seed) and probes a seeded sample of ``n_users`` test
    users.  ``backend = "builtin"`` decodes with the built-in generative model
    (``model = "generative"``); ``"run"`` ranks with any model that scores
    profiles (``lm-*``).
    """

    backend: Literal["builtin", "run"] = Field("builtin", description="builtin (generative decoding) | run (profile scores)")
    model: str = Field("generative", min_length=1, description="the study model probed (its unmitigated cell)")
    groups: list[str] = Field(["gender", "age", "occupation"], min_length=1, description="user attributes varied")
    k: int = Field(20, ge=1, description="list length compared")
    n_users: int = Field(100, ge=1, description="test users sampled (seeded by `seed`)")
    seed: int = Field(0, description="seed of the user sample")
    seeds: list[int] | None = Field(None, min_length=1, description="study seeds probed (default: the first)")
    decode: Literal["generate", "rank"] = Field("generate", description="builtin: constrained decoding or full ranking")
    num_beams: int = Field(1, ge=1, description="builtin: beam width (1 = greedy)")
    min_valid_rate: float = Field(0.9, ge=0, le=1, description="below this share of valid outputs the cell fails")


class StudyConfig(Strict):
    """A whole study: what to run (data × split × model × mitigation × seed) and how to audit it."""

    name: str = Field("study", min_length=1, description="the study's title")
    out: str = Field("runs/study", min_length=1, description="output folder (overridden by --out)")
    seeds: list[int] = Field([0], min_length=1, description="seeds of the split, the models and the audit")
    baseline: str = Field("bpr", description="model the others are compared with (unmitigated)")
    k: int = Field(10, ge=1, description="list length evaluated")
    metrics: list[Literal[STUDY_METRICS]] = Field(["ndcg", "recall", "hit"], min_length=1)  # type: ignore[valid-type]
    n_candidates: int = Field(100, ge=1, description="candidates stored per user (re-rankers choose from them)")
    unmitigated: bool = Field(True, description="run every model without mitigation too")
    data: list[DataConfig] = Field(min_length=1)
    split: list[SplitConfig] = Field(default_factory=lambda: [SplitConfig()], min_length=1)
    models: dict[str, dict[str, Any]] = Field(min_length=1, description="model name → hyper-parameters")
    mitigations: list[MitigationConfig] = Field(default_factory=list)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    probe: ProbeConfig | None = None
    simulation: SimulationConfig | None = None  # validated like the rest; `recfair simulate` runs it

    def metric_columns(self) -> list[str]:
        """Per-user columns audited, e.g. ``["ndcg@10", "recall@10"]``."""
        return [f"{m}@{self.k}" for m in self.metrics]


def parse_study_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> StudyConfig:
    """Parse and fully check TOML ``text``; raise :class:`StudyConfigError` with one line per problem.

    ``base_dir`` resolves relative data paths (default: the current folder).
    """
    from recfair.study.config_check import check_study

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyConfigError([f"{source}: {BAD_TOML.format(error=exc)}"]) from None
    raw = _section_study(raw)
    try:
        config = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        raise StudyConfigError(pydantic_problems(exc, StudyConfig, raw, text, source)) from None
    problems = [format_problem(source, text, loc, msg) for loc, msg in check_study(config, base_dir or Path.cwd())]
    if problems:
        raise StudyConfigError(problems)
    return config


def _section_study(raw: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys may also sit in a ``[study]`` table (as the presets write them)."""
    study = raw.get("study")
    if isinstance(study, dict):
        raw = {**{k: v for k, v in raw.items() if k != "study"}, **study}
    return raw


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and check the study config at ``path`` (see :func:`parse_study_config`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyConfigError([f"{path}: {UNREADABLE.format(error=exc)}"]) from None
    return parse_study_config(text, str(path), base_dir=path.resolve().parent)


def preset_path(name: str) -> Path:
    """The shipped preset ``name`` (``default`` or ``quick``)."""
    if name not in PRESETS:
        raise RecfairError(UNKNOWN_PRESET.format(name=name, choices=", ".join(PRESETS)))
    return Path(str(resources.files("recfair.study") / "presets" / f"{name}.toml"))


def preset_text(name: str) -> str:
    """The commented TOML text of preset ``name``."""
    return preset_path(name).read_text(encoding="utf-8")
