"""Data sets, loaders, synthetic data and splits."""

from recfair.data.dataset import Dataset, concat_interactions
from recfair.data.filters import k_core, to_implicit
from recfair.data.fingerprint import fingerprint
from recfair.data.loaders import load_atomic, load_csv, load_dataset, load_parquet
from recfair.data.movielens import load_movielens
from recfair.data.split import (
    SPLIT_PROTOCOLS,
    Split,
    make_split,
    split_cold_items,
    split_cold_users,
    split_global_temporal,
    split_leave_last,
    split_random,
    split_user_temporal,
)
from recfair.data.synthetic import make_synthetic

__all__ = [
    "Dataset",
    "SPLIT_PROTOCOLS",
    "Split",
    "concat_interactions",
    "fingerprint",
    "k_core",
    "load_atomic",
    "load_csv",
    "load_dataset",
    "load_movielens",
    "load_parquet",
    "make_split",
    "make_synthetic",
    "split_cold_items",
    "split_cold_users",
    "split_global_temporal",
    "split_leave_last",
    "split_random",
    "split_user_temporal",
    "to_implicit",
]
