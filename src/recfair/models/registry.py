"""Name → model class registry used by config files and the CLI.

Entries are ``"module:Class"`` strings imported lazily, so listing models never
imports torch or transformers.  Adding a model is one class and one line here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
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
#: A saved ``config.json`` naming no registry entry (nothing is imported).
UNKNOWN_SAVED_MODEL = "{file}: model {name!r} is not a registered model. Choose one of: {choices}."
#: A saved ``config.json`` without a format version (written before format 2).
MISSING_FORMAT = "{file}: no 'format' version; re-save the model with this recfair (formats read: {supported}). Registered models: {choices}."
#: A saved ``config.json`` from a newer recfair.
FUTURE_FORMAT = "{file}: format {version!r} is not one this recfair reads (formats read: {supported}). Registered models: {choices}."
#: A saved ``config.json`` missing a required key.
MISSING_SAVED_KEY = "{file}: saved model config lacks {key!r} (expected keys: format, model, params, n_users, n_items)."

#: ``format`` versions of ``config.json`` that :func:`class_for_saved_config` reads.
SUPPORTED_FORMATS: tuple[int, ...] = (2,)


def model_names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_model_class(name: str) -> type:
    """The class registered as ``name`` (imported on first use)."""
    try:
        target = MODELS[name]
    except (KeyError, TypeError):
        raise RecfairError(UNKNOWN_MODEL.format(name=name, choices=", ".join(model_names()))) from None
    module, qual = target.split(":")
    return getattr(importlib.import_module(module), qual)


def create_model(name: str, config: Any = None, *, runtime: Any = None, **params: Any) -> Any:
    """Instantiate a registered model; an unknown or bad parameter is one clear error."""
    return get_model_class(name)(config, runtime=runtime, **params)


def class_for_saved_config(config: Any, file: Path) -> type:
    """The model class a saved ``config.json`` names, through this registry only.

    The file is data: a name outside :data:`MODELS`, a missing or unknown format
    version, or a missing key is refused before any module is imported.
    """
    choices = ", ".join(model_names())
    supported = ", ".join(map(str, SUPPORTED_FORMATS))
    if not isinstance(config, dict) or "format" not in config:
        raise RecfairError(MISSING_FORMAT.format(file=file, supported=supported, choices=choices))
    version = config["format"]
    if isinstance(version, bool) or version not in SUPPORTED_FORMATS:
        raise RecfairError(FUTURE_FORMAT.format(file=file, version=version, supported=supported, choices=choices))
    name = config.get("model")
    if not isinstance(name, str) or name not in MODELS:
        raise RecfairError(UNKNOWN_SAVED_MODEL.format(file=file, name=name, choices=choices))
    for key in ("params", "n_users", "n_items"):
        if key not in config:
            raise RecfairError(MISSING_SAVED_KEY.format(file=file, key=key))
    if not isinstance(config["params"], dict):
        raise RecfairError(MISSING_SAVED_KEY.format(file=file, key="params (an object)"))
    return get_model_class(name)
