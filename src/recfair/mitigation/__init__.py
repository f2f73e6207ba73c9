"""Fairness mitigation: pre-processing, in-processing penalties, post-processing re-rankers.

Spec strings (command line, study configs) are parsed by :func:`make_penalty`,
:func:`make_reweigher` and :func:`make_reranker`; ``GROUPS`` is a user group spec of
the audit grammar (``gender``, ``age``, ``occupation``, ``activity`` = top 5% vs rest,
``activity[20]`` = top 20%, ``gender*age``…)::

    penalty   := value:GROUPS | absolute:GROUPS | under:GROUPS | over:GROUPS
               | nonparity:GROUPS | group-gap:GROUPS | adversarial:GROUPS | popularity
    reweigher := equal-share:GROUPS | inverse:GROUPS | upsample:GROUPS[=GROUP]

Examples
--------
>>> from recfair.mitigation import make_penalty, make_reweigher
>>> make_penalty("group-gap:gender", weight=0.5)
GroupLossGapPenalty(attribute='gender', weight=0.5)
>>> make_reweigher("equal-share:activity")
GroupReweigher(attribute='activity', balance='interactions', strength=1.0)
"""

from __future__ import annotations

from recfair.errors import RecfairError
from recfair.mitigation.adversarial import AdversarialPenalty
from recfair.mitigation.inprocess import (
    YAO_HUANG_KINDS,
    GroupLossGapPenalty,
    PopularityPenalty,
    RatingUnfairnessPenalty,
)
from recfair.mitigation.pre import GroupReweigher, GroupUpsampler, Reweigher
from recfair.mitigation.rerank import (
    CalibratedPopularityReRanker,
    FairPrefixReRanker,
    PrefixExposureReRanker,
    ReRanker,
)
from recfair.mitigation.ugf import UGFReRanker

__all__ = [
    "AdversarialPenalty",
    "CalibratedPopularityReRanker",
    "FairPrefixReRanker",
    "GroupLossGapPenalty",
    "GroupReweigher",
    "GroupUpsampler",
    "PENALTIES",
    "PopularityPenalty",
    "PrefixExposureReRanker",
    "RERANKERS",
    "REWEIGHERS",
    "RatingUnfairnessPenalty",
    "ReRanker",
    "Reweigher",
    "UGFReRanker",
    "make_penalty",
    "make_reranker",
    "make_reweigher",
]

#: Penalty names accepted by :func:`make_penalty` (aliases map to these).
PENALTIES = ("value", "absolute", "under", "over", "nonparity", "group-gap", "adversarial", "popularity")
#: Pre-processor names accepted by :func:`make_reweigher`.
REWEIGHERS = ("equal-share", "inverse", "upsample")
#: Re-ranker names accepted by :func:`make_reranker`.
RERANKERS = ("ugf", "fair", "prefix", "calibrated")

_ALIASES = {"non-parity": "nonparity", "non_parity": "nonparity", "loss-gap": "group-gap", "group_gap": "group-gap",
            "adv": "adversarial", "pop": "popularity", "equal_share": "equal-share", "reweight": "equal-share",
            "inverse-frequency": "inverse", "fa*ir": "fair", "fairness-prefix": "fair", "cp": "calibrated"}

UNKNOWN_PENALTY = "Unknown penalty '{name}' in '{spec}'. Choose one of: {choices} (e.g. 'group-gap:gender')."
UNKNOWN_REWEIGHER = "Unknown pre-processing '{name}' in '{spec}'. Choose one of: {choices} (e.g. 'equal-share:gender')."
UNKNOWN_RERANKER = "Unknown re-ranker '{name}'. Choose one of: {choices}."
NEEDS_GROUPS = "'{name}' needs a user group after a colon, e.g. '{name}:gender' or '{name}:activity'; got '{spec}'."
NO_GROUPS = "'{name}' takes no user group; got '{spec}'. Use '{name}'."


def _split(spec: str, choices, template: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec.strip():
        raise RecfairError(template.format(name=spec, spec=spec, choices=", ".join(choices)))
    name, _, groups = spec.strip().partition(":")
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in choices:
        raise RecfairError(template.format(name=name, spec=spec, choices=", ".join(choices)))
    return name, groups.strip()


def make_penalty(spec: str, weight: float = 1.0, **options):
    """Build an in-processing penalty from ``NAME[:GROUPS]`` with ``weight`` = λ.

    ``options`` go to the penalty's constructor (e.g. ``embedding_size=64, seed=1``
    for ``adversarial``, ``log=False`` for ``popularity``).
    """
    name, groups = _split(spec, PENALTIES, UNKNOWN_PENALTY)
    if name == "popularity":
        if groups:
            raise RecfairError(NO_GROUPS.format(name=name, spec=spec))
        return PopularityPenalty(weight=weight, **options)
    if not groups:
        raise RecfairError(NEEDS_GROUPS.format(name=name, spec=spec))
    if name in YAO_HUANG_KINDS:
        return RatingUnfairnessPenalty(name, groups, weight=weight, **options)
    if name == "group-gap":
        return GroupLossGapPenalty(groups, weight=weight, **options)
    return AdversarialPenalty(groups, weight=weight, **options)


def make_reweigher(spec: str, **options) -> Reweigher:
    """Build a pre-processor from ``NAME:GROUPS`` (``upsample:GROUPS=GROUP`` up-samples one group)."""
    name, groups = _split(spec, REWEIGHERS, UNKNOWN_REWEIGHER)
    if not groups:
        raise RecfairError(NEEDS_GROUPS.format(name=name, spec=spec))
    if name == "upsample":
        attr, _, group = groups.partition("=")
        return GroupUpsampler(attr.strip(), group=group.strip() or None, **options)
    return GroupReweigher(groups, balance="interactions" if name == "equal-share" else "users", **options)


def make_reranker(method: str, **options) -> ReRanker:
    """Build a re-ranker by name: ``ugf``, ``fair`` (FA*IR), ``prefix`` or ``calibrated``."""
    key = _ALIASES.get(str(method).strip().lower(), str(method).strip().lower())
    classes = {"ugf": UGFReRanker, "fair": FairPrefixReRanker, "prefix": PrefixExposureReRanker,
               "calibrated": CalibratedPopularityReRanker}
    if key not in classes:
        raise RecfairError(UNKNOWN_RERANKER.format(name=method, choices=", ".join(RERANKERS)))
    return classes[key](**options)
