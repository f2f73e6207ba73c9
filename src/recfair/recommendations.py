"""The :class:`Recommendations` value (ranked top-k lists for a set of users) and how to rank scores into one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.errors import RecfairError

if TYPE_CHECKING:  # pragma: no cover
    import torch

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


def top_k(scores: "np.ndarray | torch.Tensor", k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries per row, best first.

    ``-inf`` entries are never returned: where fewer than ``k`` finite entries
    exist the tail is padded with :data:`PAD` / ``nan``.  Ties are broken by the
    lower item index (deterministic), also at the cut-off.  ``scores`` is a
    float32 numpy array or CPU tensor (read, never modified).

    >>> top_k(np.array([[0.1, 0.5, 0.5, -np.inf]], np.float32), 3)[0].tolist()
    [[1, 2, 0]]
    """
    import torch

    n, m = scores.shape
    kk = min(k, m)
    t = scores if isinstance(scores, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    # One more than needed: where the (k+1)-th value equals the k-th, torch.topk may have
    # picked arbitrarily among tied entries; redo those rows with a stable sort (lower index first).
    vals, idx = torch.topk(t, min(kk + 1, m), dim=1, largest=True, sorted=True)
    if vals.shape[1] > kk:
        redo = torch.nonzero((vals[:, kk] == vals[:, kk - 1]) & (vals[:, kk - 1] > -torch.inf)).squeeze(1)
        vals, idx = vals[:, :kk], idx[:, :kk]
        if redo.numel():
            v2, i2 = torch.sort(t[redo], dim=1, descending=True, stable=True)
            vals[redo], idx[redo] = v2[:, :kk], i2[:, :kk]
    vals, idx = vals.numpy(), idx.numpy().astype(np.int32)
    if kk > 1:  # ties inside the list: lower item index first — cheap on k columns
        order = np.lexsort((idx, -vals), axis=1)
        idx = np.take_along_axis(idx, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
    items = np.full((n, k), PAD, dtype=np.int32)
    out = np.full((n, k), np.nan, dtype=np.float32)
    ok = np.isfinite(vals)
    items[:, :kk] = np.where(ok, idx, PAD)
    out[:, :kk] = np.where(ok, vals, np.nan)
    return items, out


def rank_scores(
    users: Any, scores: np.ndarray, k: int, *, seen: "sp.spmatrix | Sequence[np.ndarray] | None" = None,
    allowed: np.ndarray | None = None,
) -> Recommendations:
    """Mask seen items and take the top ``k`` of each row of an ``(n, n_items)`` score matrix.

    The one helper for it (models, new users, probe listers): :func:`top_k` of
    ``scores`` where non-finite scores, each row's ``seen`` items and items outside
    ``allowed`` never appear.  ``seen`` is a sparse matrix with one row per score row
    (e.g. ``model.seen_[users]``) or one item-index array per row; ``allowed`` a
    boolean mask over the items.  ``scores`` is never modified; ``users`` label the rows.

    >>> rank_scores([7], np.array([[0.1, 0.9, 0.9, -np.inf]]), 3, seen=[np.array([2])]).items.tolist()
    [[1, 0, -1]]
    """
    import torch

    # a fresh tensor (the caller's array is never modified); non-finite scores are never recommended
    s = torch.from_numpy(np.array(scores, dtype=np.float32)).nan_to_num_(nan=-np.inf, posinf=-np.inf,
                                                                          neginf=-np.inf)
    if seen is not None:
        if sp.issparse(seen):
            seen = sp.csr_matrix(seen)
            rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
            cols = seen.indices.astype(np.int64)
        else:
            lists = [np.asarray(h, dtype=np.int64).ravel() for h in seen]
            rows = np.repeat(np.arange(len(lists), dtype=np.int64), [len(h) for h in lists])
            cols = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        s[torch.from_numpy(rows), torch.from_numpy(cols)] = -np.inf
    if allowed is not None:
        s[:, torch.from_numpy(~np.asarray(allowed, dtype=bool))] = -np.inf
    items, vals = top_k(s, int(k))
    return Recommendations(np.asarray(users, dtype=np.int32), items, vals)
