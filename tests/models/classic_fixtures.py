"""Generated data with known answers for the classic-model tests, and test penalties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recfair.data.dataset import Dataset
from recfair.models.base import Penalty, PenaltyBatch


def make_dataset(user, item, rating=None, timestamp=None, *, n_users: int, n_items: int, name="tiny") -> Dataset:
    """A Dataset straight from index arrays (raw ids are the indices as strings)."""
    return Dataset(
        np.asarray(user, dtype=np.int32),
        np.asarray(item, dtype=np.int32),
        None if rating is None else np.asarray(rating, dtype=np.float32),
        None if timestamp is None else np.asarray(timestamp, dtype=np.int64),
        np.array([str(u) for u in range(n_users)], dtype=object),
        np.array([str(i) for i in range(n_items)], dtype=object),
        pd.DataFrame(index=pd.RangeIndex(n_users, name="user")),
        pd.DataFrame(index=pd.RangeIndex(n_items, name="item")),
        name,
    )


def checkerboard(
    n_users: int = 40,
    n_items: int = 30,
    liked: int = 8,
    disliked: int = 0,
    *,
    cold_users: int = 0,
    seed: int = 0,
) -> Dataset:
    """Two user blocks, each liking one item block: the right answer is known by construction.

    Users ``< n_users // 2`` like items ``< n_items // 2``; the others like the
    rest.  Each user has ``liked`` in-block items rated 5 (so every user keeps
    in-block items unseen) and ``disliked`` out-of-block items rated 1.  The last
    ``cold_users`` users (added on top) have no interaction at all.
    """
    rng = np.random.default_rng(seed)
    half_u, half_i = n_users // 2, n_items // 2
    users, items, ratings = [], [], []
    for u in range(n_users):
        mine = np.arange(half_i) if u < half_u else np.arange(half_i, n_items)
        other = np.arange(half_i, n_items) if u < half_u else np.arange(half_i)
        for i in rng.choice(mine, liked, replace=False):
            users.append(u), items.append(i), ratings.append(5.0)
        for i in rng.choice(other, disliked, replace=False):
            users.append(u), items.append(i), ratings.append(1.0)
    order = rng.permutation(len(users))
    ts = np.arange(len(users)) * 10
    return make_dataset(
        np.asarray(users)[order], np.asarray(items)[order], np.asarray(ratings)[order], ts,
        n_users=n_users + cold_users, n_items=n_items, name="checkerboard",
    )


def block_of(users: np.ndarray, n_users: int = 40, n_items: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest item index (inclusive) of each user's liked block."""
    first = np.asarray(users) >= n_users // 2
    lo = np.where(first, n_items // 2, 0)
    hi = np.where(first, n_items - 1, n_items // 2 - 1)
    return lo, hi


class RecordingPenalty(Penalty):
    """Pushes predictions up (``−lambda_ · mean prediction``) and records how the model called it.

    It owns one trainable parameter ``scale`` (multiplying the term) so tests can
    see that a penalty's parameters reach the optimiser.
    """

    def __init__(self, lambda_: float = 1.0) -> None:
        self.lambda_ = lambda_
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.bound: list[Dataset] = []
        self.batches: list[PenaltyBatch] = []

    def bind(self, train: Dataset) -> None:
        self.bound.append(train)

    def parameters(self) -> list:
        return [self.scale]

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        self.batches.append(batch)
        return -self.lambda_ * self.scale * batch.predictions.mean()
