"""Classic recommenders: random and popularity baselines, ItemKNN, MF (ratings) and BPR-MF.

Import the classes from their modules (or through :mod:`recfair.models.registry`);
this package does not import torch until a torch model is used.
"""

__all__ = [
    "RandomRecommender",
    "PopularityRecommender",
    "ItemKNNRecommender",
    "MFRecommender",
    "BPRRecommender",
]

_WHERE = {
    "RandomRecommender": "baselines",
    "PopularityRecommender": "baselines",
    "ItemKNNRecommender": "itemknn",
    "MFRecommender": "mf",
    "BPRRecommender": "mf",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
