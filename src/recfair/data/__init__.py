"""Data sets, loaders, synthetic data and splits."""

from recfair.data.dataset import Dataset, concat_interactions

__all__ = ["Dataset", "concat_interactions"]
