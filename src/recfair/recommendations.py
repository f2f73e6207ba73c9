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
        """List length: the number of columns of ``items`` (padded slots included)."""
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

    def to_table(self, dataset) -> pd.DataFrame:
        """Long table with indices *and* raw ids: ``user, rank, item, score, user_id, item_id``.

        The raw ids make a stored list mean the same thing outside recfair; the
        indices make it cheap to read back (:meth:`from_frame` ignores the ids).
        """
        df = self.to_frame()
        df["user_id"] = np.asarray(dataset.user_ids)[df["user"].to_numpy()].astype(str)
        df["item_id"] = np.asarray(dataset.item_ids)[df["item"].to_numpy()].astype(str)
        return df

    def save(self, path, dataset=None) -> None:
        """Write as Parquet (long form): indices, plus raw ids when ``dataset`` is given."""
        df = self.to_frame() if dataset is None else self.to_table(dataset)
        df.to_parquet(path, index=False)

    @classmethod
    def load(cls, path, k: int | None = None) -> "Recommendations":
        """Read a file written by :meth:`save` (index columns)."""
        return cls.from_frame(pd.read_parquet(path), k=k)


def rank_scores(users, scores, k: int, *, exclude=None) -> Recommendations:
    """Top-``k`` of each row of an ``(n, n_items)`` score matrix, as :class:`Recommendations`.

    Non-finite scores are never listed, nor the items of ``exclude`` (a CSR
    ``(n_users, n_items)`` matrix indexed by ``users``, e.g. training items).
    Ties go to the lower item index; lists with too few items are padded.

    >>> rank_scores([7], np.array([[0.1, 0.9, 0.9, -np.inf]]), 3).items.tolist()
    [[1, 2, 0]]
    """
    users = np.asarray(users, dtype=np.int64)
    s = np.array(scores, dtype=np.float32, copy=True)
    s[~np.isfinite(s)] = -np.inf
    if exclude is not None:
        sub = exclude[users]
        s[np.repeat(np.arange(len(users)), np.diff(sub.indptr)), sub.indices] = -np.inf
    kk = min(int(k), s.shape[1])
    order = np.argsort(-s, axis=1, kind="stable")[:, :kk]  # stable: lower index first on ties
    vals = np.take_along_axis(s, order, axis=1)
    items = np.full((len(users), int(k)), PAD, dtype=np.int32)
    out = np.full((len(users), int(k)), np.nan, dtype=np.float32)
    ok = np.isfinite(vals)
    items[:, :kk] = np.where(ok, order, PAD)
    out[:, :kk] = np.where(ok, vals, np.nan)
    return Recommendations(users, items, out)
