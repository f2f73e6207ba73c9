"""Name → model class registry used by config files and the CLI.

Entries are ``"module:Class"`` strings imported lazily, so listing models never
imports torch or transformers.  Adding a model is one class and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from recfair.errors import RecfairError

MODELS: dict[str, str] = {
    "random": "recfair.models.classic.baselines:RandomRecommender",
    "popularity": "recfair.models.classic.baselines:PopularityRecommender",
    "itemknn": "recfair.models.classic.itemknn:ItemKNNRecommender",
    "mf": "recfair.models.classic.mf:MFRecommender",
    "bpr": "recfair.models.classic.mf:BPRRecommender",
    "lm-frozen": "recfair.models.lm.two_tower:LMFrozenRecommender",
    "lm-finetune": "recfair.models.lm.finetune:LMFinetuneRecommender",
    "lm-classifier": "recfair.models.lm.classifier:LMClassifierRecommender",
    "lm-hybrid": "recfair.models.lm.hybrid:LMHybridRecommender",
    "generative": "recfair.models.generative.builtin:GenerativeRecommender",
}

UNKNOWN_MODEL = "Unknown model '{name}'. Choose one of: {choices}."


def model_names() -> list[str]:
    return sorted(MODELS)


def get_model_class(name: str):
    try:
        target = MODELS[name]
    except KeyError:
        raise RecfairError(UNKNOWN_MODEL.format(name=name, choices=", ".join(model_names()))) from None
    module, qual = target.split(":")
    return getattr(importlib.import_module(module), qual)


def create_model(name: str, **params: Any):
    """Instantiate a registered model; unknown parameters are a clear error."""
    klass = get_model_class(name)
    allowed = klass._param_names()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise RecfairError(
            f"Unknown parameter(s) {', '.join(unknown)} for model '{name}'. Valid parameters: {', '.join(allowed) or '(none)'}."
        )
    return klass(**params)
