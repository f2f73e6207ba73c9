"""Data and helpers shared by the mitigation tests (small, seeded, fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.data import Dataset, make_split, make_synthetic


def tiny_dataset() -> Dataset:
    """6 users (3 F, 3 M), 4 items, ratings; counts chosen so every weight is hand-computable.

    F users u0,u1,u2 have 1, 1, 2 interactions (4 in all); M users u3,u4,u5 have 4, 2, 2 (8 in all).
    """
    rows = [
        ("u0", "a", 5), ("u1", "a", 4), ("u2", "b", 3), ("u2", "c", 2),
        ("u3", "a", 1), ("u3", "b", 2), ("u3", "c", 3), ("u3", "d", 4),
        ("u4", "a", 5), ("u4", "b", 4), ("u5", "a", 3), ("u5", "d", 2),
    ]
    df = pd.DataFrame(rows, columns=["user", "item", "rating"])
    df["timestamp"] = np.arange(len(df))
    users = pd.DataFrame({"user": [f"u{i}" for i in range(6)], "gender": ["F", "F", "F", "M", "M", "M"],
                          "age": [20, 30, 40, 20, 30, 60]})
    return Dataset.from_frame(df, users=users, name="tiny")


def taste_data(n_major=500, n_minor=150, n_items=300, inter_major=12000, inter_minor=1500, seed=0) -> Dataset:
    """Two make_synthetic worlds on one item catalogue: a majority and a minority with *different tastes*
    (independent latent factors and popularity) and a third of the activity.

    The planted gap is one that re-weighting can address: the two groups compete for the
    shared item parameters and the majority wins.  Users: ``group`` majority/minority,
    ``gender`` M/F.
    """
    a = make_synthetic(n_major, n_items, inter_major, minority_share=0.0, seed=seed)
    b = make_synthetic(n_minor, n_items, inter_minor, minority_share=0.0, seed=seed + 1)
    parts = []
    for ds, offset in ((a, 0), (b, n_major)):
        parts.append(pd.DataFrame({
            "user": [f"u{x + offset}" for x in ds.user], "item": [f"i{x}" for x in ds.item],
            "rating": ds.rating, "timestamp": ds.timestamp,
        }))
    n = n_major + n_minor
    users = pd.DataFrame({
        "user": [f"u{x}" for x in range(n)],
        "group": ["majority"] * n_major + ["minority"] * n_minor,
        "gender": ["M"] * n_major + ["F"] * n_minor,
    })
    return Dataset.from_frame(pd.concat(parts, ignore_index=True), users=users, name="taste")


def random_split(ds: Dataset, seed: int = 0):
    return make_split(ds, "random", test_size=0.2, seed=seed)


def synth_dataset() -> Dataset:
    """H1's generator with its default planted gap (minority: half the activity, half noise)."""
    return make_synthetic(500, 250, 12000, seed=0)


def paired_mean_change(before: np.ndarray, after: np.ndarray, n_bootstrap: int = 1000, seed: int = 0):
    """Mean of ``after − before`` over users with both values, and its percentile-bootstrap 95% CI."""
    d = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    d = d[np.isfinite(d)]
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, (n_bootstrap, d.size))].mean(1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return float(d.mean()), float(lo), float(hi)


def candidates_for(model, split, n: int = 50):
    users = np.flatnonzero(split.test.user_counts > 0)
    return model.recommend(users, k=n)
