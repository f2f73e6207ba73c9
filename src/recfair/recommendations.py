"""The :class:`Recommendations` value: ranked top-k lists for a set of users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recfair.errors import RecfairError

#: Item index used to pad lists shorter than ``k``.
PAD = -1


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Ranked lists, the one value metrics, audits, re-rankers and the server consume.

    Attributes
    ----------
    users:
        ``(n,)`` int32 user indices.
    items:
        ``(n, k)`` int32 item indices, best first; lists shorter than ``k`` are
        padded at the end with :data:`PAD` (``-1``).
    scores:
        ``(n, k)`` float32 scores aligned with ``items`` (``nan`` at padding).
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        users = np.asarray(self.users, dtype=np.int32)
        items = np.asarray(self.items, dtype=np.int32)
        scores = np.asarray(self.scores, dtype=np.float32)
        if items.ndim != 2 or users.ndim != 1 or items.shape[0] != users.shape[0] or scores.shape != items.shape:
            raise RecfairError(
                f"Recommendations need users (n,), items (n, k), scores (n, k); got "
                f"{users.shape}, {items.shape}, {scores.shape}"
            )
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "scores", scores)

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``(n, k)`` mask of real (non-padding) entries."""
        return self.items != PAD

    def truncate(self, k: int) -> "Recommendations":
        """The first ``k`` positions of every list."""
        if k > self.k:
            raise RecfairError(f"cannot truncate lists of length {self.k} to k={k}")
        return Recommendations(self.users, self.items[:, :k], self.scores[:, :k])

    def select(self, users: np.ndarray) -> "Recommendations":
        """Rows for the given user indices (in that order)."""
        pos = pd.Index(self.users).get_indexer(np.asarray(users))
        if (pos < 0).any():
            raise RecfairError(f"user index {np.asarray(users)[pos < 0][0]} has no recommendations")
        return Recommendations(self.users[pos], self.items[pos], self.scores[pos])

    def to_frame(self, dataset=None) -> pd.DataFrame:
        """Long table ``user, rank (1-based), item, score``; raw ids when a dataset is given."""
        n, k = self.items.shape
        df = pd.DataFrame(
            {
                "user": np.repeat(self.users, k),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
                "item": self.items.ravel(),
                "score": self.scores.ravel(),
            }
        )
        df = df[df["item"] != PAD].reset_index(drop=True)
        if dataset is not None:
            df["user"] = dataset.user_ids[df["user"].to_numpy()]
            df["item"] = dataset.item_ids[df["item"].to_numpy()]
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame, k: int | None = None) -> "Recommendations":
        """Inverse of :meth:`to_frame` (index form): columns ``user, rank, item, score``."""
        df = df.sort_values(["user", "rank"], kind="stable")
        users, start = np.unique(df["user"].to_numpy(), return_index=True)
        counts = np.diff(np.append(start, len(df)))
        k = int(k if k is not None else (counts.max() if len(counts) else 0))
        items = np.full((len(users), k), PAD, dtype=np.int32)
        scores = np.full((len(users), k), np.nan, dtype=np.float32)
        rows = np.repeat(np.arange(len(users)), counts)
        cols = df["rank"].to_numpy() - 1
        keep = cols < k
        items[rows[keep], cols[keep]] = df["item"].to_numpy()[keep]
        scores[rows[keep], cols[keep]] = df["score"].to_numpy()[keep]
        return cls(users, items, scores)

    def save(self, path) -> None:
        """Write as Parquet (long form, indices)."""
        self.to_frame().to_parquet(path, index=False)

    @classmethod
    def load(cls, path, k: int | None = None) -> "Recommendations":
        return cls.from_frame(pd.read_parquet(path), k=k)
