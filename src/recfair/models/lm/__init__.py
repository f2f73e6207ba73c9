"""Large-model recommenders: a cached text encoder and four models over it (see docs/lm.md).

Names are imported lazily so ``import recfair.models.lm`` does not load torch or
transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TextEncoder": "recfair.models.lm.encoder",
    "LMRecommender": "recfair.models.lm.common",
    "LMFrozenRecommender": "recfair.models.lm.two_tower",
    "LMHybridRecommender": "recfair.models.lm.hybrid",
    "LMFinetuneRecommender": "recfair.models.lm.finetune",
    "LMClassifierRecommender": "recfair.models.lm.classifier",
    "evaluate_cold_items": "recfair.models.lm.coldstart",
    "evaluate_cold_users": "recfair.models.lm.coldstart",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'recfair.models.lm' has no attribute {name!r}")
