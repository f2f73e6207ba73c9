"""Registry of mitigation components: one name → one class, for every stage.

Each entry's class declares its hyper-parameters once as a typed ``Config``
(:mod:`recfair.models.config`); some names also fix a parameter (``value`` is
:class:`RatingUnfairnessPenalty` with ``kind="value"``, ``inverse`` is
:class:`GroupReweigher` with ``balance="users"``).  The spec strings of the
command line and study configs resolve through here::

    penalty   := value:GROUPS | absolute:GROUPS | under:GROUPS | over:GROUPS
               | nonparity:GROUPS | group-gap:GROUPS | adversarial:GROUPS | popularity
    reweigher := equal-share:GROUPS | inverse:GROUPS | upsample:GROUPS[=GROUP]
    reranker  := ugf | fair | prefix | calibrated | amortized

Example
-------
>>> create_reranker("prefix", target=0.3)
PrefixExposureReRanker(target=0.3, item_groups='popularity')
>>> make_penalty("group-gap:gender", lambda_=0.5)
GroupLossGapPenalty(groups='gender', lambda_=0.5)
"""

from __future__ import annotations

from typing import Any

from recfair.errors import RecfairError
from recfair.mitigation.adversarial import AdversarialPenalty
from recfair.mitigation.amortized import AmortizedExposureReRanker
from recfair.mitigation.inprocess import GroupLossGapPenalty, PopularityPenalty, RatingUnfairnessPenalty
from recfair.mitigation.pre import GroupReweigher, GroupUpsampler, Reweigher
from recfair.mitigation.rerank import (
    CalibratedPopularityReRanker,
    FairPrefixReRanker,
    PrefixExposureReRanker,
    ReRanker,
)
from recfair.mitigation.ugf import UGFReRanker
from recfair.models.config import DID_YOU_MEAN, closest_key, parse_params

__all__ = [
    "PENALTIES", "PRESETS", "RERANKERS", "REWEIGHERS", "STAGES",
    "create_penalty", "create_reranker", "create_reweigher", "find_component", "get_mitigation_class",
    "make_penalty", "make_reranker", "make_reweigher", "mitigation_names", "parse_mitigation_params", "resolve_mitigation_name",
]

#: In-processing penalties (``recfair train --penalty NAME:GROUPS --lambda λ``).
PENALTIES: dict[str, type] = {
    "value": RatingUnfairnessPenalty,
    "absolute": RatingUnfairnessPenalty,
    "under": RatingUnfairnessPenalty,
    "over": RatingUnfairnessPenalty,
    "nonparity": RatingUnfairnessPenalty,
    "group-gap": GroupLossGapPenalty,
    "adversarial": AdversarialPenalty,
    "popularity": PopularityPenalty,
}
#: Pre-processors (``recfair train --reweigh NAME:GROUPS``).
REWEIGHERS: dict[str, type] = {"equal-share": GroupReweigher, "inverse": GroupReweigher, "upsample": GroupUpsampler}
#: Post-processing re-rankers (``recfair rerank --method NAME``).
RERANKERS: dict[str, type] = {
    "ugf": UGFReRanker,
    "fair": FairPrefixReRanker,
    "prefix": PrefixExposureReRanker,
    "calibrated": CalibratedPopularityReRanker,
    "amortized": AmortizedExposureReRanker,
}
#: Stage name → its registry.
STAGES: dict[str, dict[str, type]] = {"penalty": PENALTIES, "reweigher": REWEIGHERS, "reranker": RERANKERS}
#: Parameters a registry name fixes.
PRESETS: dict[str, dict[str, Any]] = {
    **{kind: {"kind": kind} for kind in ("value", "absolute", "under", "over", "nonparity")},
    "equal-share": {"balance": "interactions"},
    "inverse": {"balance": "users"},
}
#: Other spellings accepted for a registry name.
ALIASES = {"non-parity": "nonparity", "non_parity": "nonparity", "loss-gap": "group-gap", "group_gap": "group-gap",
           "adv": "adversarial", "pop": "popularity", "equal_share": "equal-share", "reweight": "equal-share",
           "inverse-frequency": "inverse", "fa*ir": "fair", "fairness-prefix": "fair", "cp": "calibrated",
           "amortized-exposure": "amortized"}

UNKNOWN_PENALTY = "Unknown penalty '{name}' in '{spec}'. Choose one of: {choices} (e.g. 'group-gap:gender')."
UNKNOWN_REWEIGHER = "Unknown pre-processing '{name}' in '{spec}'. Choose one of: {choices} (e.g. 'equal-share:gender')."
UNKNOWN_RERANKER = "Unknown re-ranker '{name}'. Choose one of: {choices}."
UNKNOWN_STAGE = "Unknown mitigation stage '{stage}'. Choose one of: {choices}."
UNKNOWN_COMPONENT = (
    "Unknown component '{name}'. Models: {models}. Penalties: {penalties}. Re-weighers: {reweighers}. "
    "Re-rankers: {rerankers}. Generative backends: {backends}. Qualify a shared name as STAGE:NAME "
    "(e.g. penalty:popularity)."
)
FIXED_BY_NAME = "'{key}' is fixed by the name '{name}' ({key}={fixed!r}); choose another name instead."
NEEDS_GROUPS = "'{name}' needs a user group after a colon, e.g. '{name}:gender' or '{name}:activity'; got '{spec}'."
NO_GROUPS = "'{name}' takes no user group; got '{spec}'. Use '{name}'."
_MESSAGES = {"penalty": UNKNOWN_PENALTY, "reweigher": UNKNOWN_REWEIGHER, "reranker": UNKNOWN_RERANKER}


def mitigation_names(stage: str) -> list[str]:
    """The registered names of one stage (``penalty``, ``reweigher`` or ``reranker``), in order."""
    return list(_registry(stage))


def _registry(stage: str) -> dict[str, type]:
    if stage not in STAGES:
        raise RecfairError(UNKNOWN_STAGE.format(stage=stage, choices=", ".join(STAGES)))
    return STAGES[stage]


def resolve_mitigation_name(stage: str, name: Any, spec: Any = None) -> str:
    """The registry name for ``name`` in ``stage`` (case and aliases folded).

    An unknown name is one :class:`RecfairError` listing the valid names (and the
    closest one); ``spec`` is the full spec string it came from, for the message.
    """
    registry = _registry(stage)
    key = str(name).strip().lower() if isinstance(name, str) else ""
    key = ALIASES.get(key, key)
    if key not in registry:
        shown = name if isinstance(name, str) else repr(name)
        close = closest_key(key, list(registry)) if key else None
        hint = DID_YOU_MEAN.format(close=close) if close else ""
        raise RecfairError(_MESSAGES[stage].format(name=shown, spec=spec if spec is not None else shown,
                                                   choices=", ".join(registry)) + hint)
    return key


def get_mitigation_class(stage: str, name: str) -> type:
    """The class registered as ``name`` in ``stage``."""
    return _registry(stage)[resolve_mitigation_name(stage, name)]


def _create(stage: str, name: str, config: Any, params: dict[str, Any], spec: Any = None) -> Any:
    key = resolve_mitigation_name(stage, name, spec)
    fixed = PRESETS.get(key, {})
    given = {**(dict(config) if isinstance(config, dict) else {}), **params}
    for param, value in fixed.items():
        if param in given and given[param] != value:
            raise RecfairError(FIXED_BY_NAME.format(key=param, name=key, fixed=value))
    config = None if isinstance(config, dict) else config
    return _registry(stage)[key](config=config, **{**given, **fixed})


def parse_mitigation_params(stage: str, name: str, assignments: list[str]) -> dict[str, Any]:
    """``["epsilon=0.02", "solver=greedy"]`` → values typed by the component's config.

    The ``--param key=value`` reading of :func:`recfair.models.config.parse_params`:
    a misspelt key is one error naming the closest valid key.
    """
    key = resolve_mitigation_name(stage, name)
    return parse_params(_registry(stage)[key].Config, assignments, owner=f"{stage} '{key}'")


def create_penalty(name: str, config: Any = None, **params: Any) -> Any:
    """A penalty by registry name, e.g. ``create_penalty("group-gap", groups="gender", lambda_=0.5)``."""
    return _create("penalty", name, config, params)


def create_reweigher(name: str, config: Any = None, **params: Any) -> Reweigher:
    """A pre-processor by registry name, e.g. ``create_reweigher("inverse", groups="gender")``."""
    return _create("reweigher", name, config, params)


def create_reranker(name: str, config: Any = None, **params: Any) -> ReRanker:
    """A re-ranker by registry name, e.g. ``create_reranker("ugf", epsilon=0.02)``.

    Data that is not a hyper-parameter goes by keyword too: ``calibration=`` (ugf),
    ``item_mask=`` (fair).
    """
    return _create("reranker", name, config, params)


# ---------------------------------------------------------------- spec strings
def _split(stage: str, spec: Any) -> tuple[str, str]:
    """``NAME[:GROUPS]`` → (registry name, groups text)."""
    if not isinstance(spec, str) or not spec.strip():
        resolve_mitigation_name(stage, spec, spec)
    name, _, groups = spec.strip().partition(":")
    return resolve_mitigation_name(stage, name, spec), groups.strip()


def make_penalty(spec: str, lambda_: float = 1.0, **options: Any) -> Any:
    """Build an in-processing penalty from ``NAME[:GROUPS]`` with weight ``lambda_`` (λ).

    ``options`` are the penalty's other hyper-parameters (e.g. ``embedding_size=64,
    seed=1`` for ``adversarial``, ``log=False`` for ``popularity``).
    """
    name, groups = _split("penalty", spec)
    takes_groups = "groups" in PENALTIES[name].Config.model_fields
    if takes_groups and not groups:
        raise RecfairError(NEEDS_GROUPS.format(name=name, spec=spec))
    if groups and not takes_groups:
        raise RecfairError(NO_GROUPS.format(name=name, spec=spec))
    if groups:
        options["groups"] = groups
    return create_penalty(name, lambda_=lambda_, **options)


def make_reweigher(spec: str, **options: Any) -> Reweigher:
    """Build a pre-processor from ``NAME:GROUPS`` (``upsample:GROUPS=GROUP`` up-samples one group)."""
    name, groups = _split("reweigher", spec)
    if not groups:
        raise RecfairError(NEEDS_GROUPS.format(name=name, spec=spec))
    if name == "upsample":
        groups, _, group = groups.partition("=")
        options.setdefault("group", group.strip() or None)
    return create_reweigher(name, groups=groups.strip(), **options)


def make_reranker(method: str, **options: Any) -> ReRanker:
    """Build a re-ranker by name: ``ugf``, ``fair`` (FA*IR), ``prefix``, ``calibrated`` or ``amortized``."""
    return create_reranker(method, **options)


# ------------------------------------------------------------ any component
def find_component(name: str) -> tuple[str, type]:
    """``(kind, class)`` of the model, mitigation or generative backend called ``name``.

    ``kind`` is ``model``, ``penalty``, ``reweigher``, ``reranker`` or ``backend``.  A
    name is looked up in that order; ``STAGE:NAME`` (``penalty:popularity``) picks
    one registry.  Used by ``recfair models --params NAME``.
    """
    from recfair.models.generative.backends import BACKEND_CLASSES, get_backend_class
    from recfair.models.registry import MODELS, get_model_class

    kind, sep, rest = str(name).partition(":")
    wanted = (kind.strip().lower(), rest.strip()) if sep else (None, str(name).strip())
    lookups = [("model", MODELS, get_model_class), ("penalty", PENALTIES, None), ("reweigher", REWEIGHERS, None),
               ("reranker", RERANKERS, None), ("backend", BACKEND_CLASSES, get_backend_class)]
    for kind, registry, getter in lookups:
        if wanted[0] not in (None, kind):
            continue
        key = ALIASES.get(wanted[1].lower(), wanted[1].lower()) if registry is not MODELS else wanted[1]
        if key in registry:
            return kind, getter(key) if getter else registry[key]
    raise RecfairError(UNKNOWN_COMPONENT.format(
        name=name, models=", ".join(sorted(MODELS)), penalties=", ".join(PENALTIES),
        reweighers=", ".join(REWEIGHERS), rerankers=", ".join(RERANKERS), backends=", ".join(BACKEND_CLASSES)))
