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
>>> make_penalty("group-gap:gender", lambda_=0.5)
GroupLossGapPenalty(groups='gender', lambda_=0.5)
>>> make_reweigher("equal-share:activity")
GroupReweigher(groups='activity', balance='interactions', lambda_=1.0)

Every component is also reachable by registry name (:mod:`recfair.mitigation.registry`):
``create_penalty("group-gap", groups="gender")``, ``create_reranker("ugf", epsilon=0.02)``.
"""

from __future__ import annotations

from recfair.mitigation.adversarial import AdversarialPenalty
from recfair.mitigation.amortized import AmortizedExposureReRanker
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
from recfair.mitigation.registry import (
    NEEDS_GROUPS,
    NO_GROUPS,
    PENALTIES,
    RERANKERS,
    REWEIGHERS,
    UNKNOWN_PENALTY,
    UNKNOWN_RERANKER,
    UNKNOWN_REWEIGHER,
    create_penalty,
    create_reranker,
    create_reweigher,
    find_component,
    get_mitigation_class,
    make_penalty,
    make_reranker,
    make_reweigher,
    mitigation_names,
    parse_mitigation_params,
    resolve_mitigation_name,
)
from recfair.mitigation.ugf import UGFReRanker
from recfair.models.base import Penalty

__all__ = [
    "AdversarialPenalty",
    "AmortizedExposureReRanker",
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
    "create_penalty",
    "create_reranker",
    "create_reweigher",
    "find_component",
    "get_mitigation_class",
    "make_penalty",
    "make_reranker",
    "make_reweigher",
    "mitigation_names",
    "parse_mitigation_params",
    "resolve_mitigation_name",
]

