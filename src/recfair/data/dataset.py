"""The :class:`Dataset` value that every stage of recfair passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.errors import DataError

#: A rating scale that is not two finite numbers with min < max.
BAD_RATING_SCALE = (
    "rating scale {value!r} is not valid; expected two finite numbers 'min,max' with min < max, e.g. '1,5'"
)
#: A rating outside the declared scale, found when a Dataset is built (loaders name file and line instead).
RATING_OUTSIDE_SCALE = "rating {value:g} of interaction {index} is outside the declared rating scale [{lo:g}, {hi:g}]"


def rating_scale_of(value: object) -> tuple[float, float]:
    """A rating scale ``(min, max)`` from a pair of numbers or text such as ``"1,5"``.

    Raises :class:`DataError` (naming the value and what is allowed) unless both
    bounds are finite numbers and ``min < max``.
    """
    parts = value.split(",") if isinstance(value, str) else value
    try:
        lo, hi = (float(x) for x in parts)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataError(BAD_RATING_SCALE.format(value=value)) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DataError(BAD_RATING_SCALE.format(value=value))
    return lo, hi


def _as_index(values: np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"'{what}' must be a 1-d array of indices, got shape {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"'{what}' must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int32, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise DataError(f"'{what}' holds indices outside [0, {n}); use Dataset.from_frame to map raw ids")
    return arr


@dataclass(frozen=True, eq=False)
class Dataset:
    """User–item interactions plus user and item attribute tables.

    Indices are contiguous ``int32`` (``0..n_users-1``, ``0..n_items-1``); raw ids
    live only in :attr:`user_ids` / :attr:`item_ids`.  All subsets (train, valid,
    test of a split) share the same index space and attribute tables, so a user is
    the same row everywhere.

    Attributes
    ----------
    user, item:
        ``(n,)`` int32 index arrays, one entry per interaction.
    rating:
        ``(n,)`` float32 or ``None`` (implicit feedback).
    timestamp:
        ``(n,)`` int64 or ``None``.
    user_ids, item_ids:
        Raw ids (as strings) by index.
    users, items:
        Attribute tables indexed by ``0..n-1`` (e.g. ``gender``, ``age``,
        ``occupation``; ``title``, ``year``, ``genres``).  Multi-valued
        attributes such as ``genres`` hold tuples of strings.
    name:
        A label used in reports.
    rating_scale:
        ``(min, max)`` of the ratings where the data set declares one (ML-100K:
        ``(1.0, 5.0)``), else ``None``.  Every rating must lie inside it; subsets
        and splits carry it.  It is a declaration, not content, so it is not part
        of :func:`recfair.data.fingerprint`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"]})
    >>> ds = Dataset.from_frame(df)
    >>> ds.n_users, ds.n_items, ds.n_interactions
    (2, 2, 3)
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None
    timestamp: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: pd.DataFrame = field(repr=False)
    items: pd.DataFrame = field(repr=False)
    name: str = "dataset"
    rating_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        object.__setattr__(self, "user", _as_index(self.user, n_users, "user"))
        object.__setattr__(self, "item", _as_index(self.item, n_items, "item"))
        n = len(self.user)
        if len(self.item) != n:
            raise DataError(f"'user' and 'item' must have the same length, got {n} and {len(self.item)}")
        if self.rating is not None:
            rating = np.asarray(self.rating, dtype=np.float32)
            if rating.shape != (n,):
                raise DataError(f"'rating' must have shape ({n},), got {rating.shape}")
            object.__setattr__(self, "rating", rating)
        if self.rating_scale is not None:
            object.__setattr__(self, "rating_scale", rating_scale_of(self.rating_scale))
            self._check_scale()
        if self.timestamp is not None:
            ts = np.asarray(self.timestamp, dtype=np.int64)
            if ts.shape != (n,):
                raise DataError(f"'timestamp' must have shape ({n},), got {ts.shape}")
            object.__setattr__(self, "timestamp", ts)
        if len(self.users) != n_users or len(self.items) != n_items:
            raise DataError(
                f"attribute tables must have one row per user/item: users {len(self.users)} vs {n_users}, "
                f"items {len(self.items)} vs {n_items}"
            )
        for arr in (self.user, self.item, self.rating, self.timestamp):
            if arr is not None:
                arr.flags.writeable = False

    def _check_scale(self) -> None:
        """Raise when a rating lies outside the declared scale."""
        if self.rating is None or self.rating_scale is None or not len(self.rating):
            return
        lo, hi = self.rating_scale
        bad = (self.rating < lo) | (self.rating > hi)
        if bad.any():
            pos = int(np.argmax(bad))
            raise DataError(RATING_OUTSIDE_SCALE.format(value=float(self.rating[pos]), index=pos, lo=lo, hi=hi))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_frame(
        cls,
        interactions: pd.DataFrame,
        *,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        name: str = "dataset",
        rating_scale: tuple[float, float] | None = None,
    ) -> "Dataset":
        """Build a Dataset from a frame of raw ids (``rating_scale``: see the class doc).

        ``users`` / ``items`` are optional attribute tables whose index (or a
        column named like ``user_col`` / ``item_col``) holds raw ids.  Users and
        items that appear only in an attribute table are kept (they have no
        interactions), so cold-start entities keep an index.  Raw ids are
        compared as strings.  Index order: users/items in the attribute table
        first (file order), then any others in order of first appearance.
        """
        for col in (user_col, item_col):
            if col not in interactions.columns:
                raise DataError(f"missing column '{col}' (columns present: {list(interactions.columns)})")
        raw_u = interactions[user_col].astype(str).to_numpy()
        raw_i = interactions[item_col].astype(str).to_numpy()

        def table(attrs: pd.DataFrame | None, col: str, raw: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
            if attrs is None:
                ids = pd.unique(raw)
                return ids.astype(object), pd.DataFrame(index=pd.RangeIndex(len(ids)))
            attrs = attrs.copy()
            if col in attrs.columns:
                attrs = attrs.set_index(col)
            attrs.index = attrs.index.astype(str)
            if attrs.index.has_duplicates:
                dup = attrs.index[attrs.index.duplicated()][0]
                raise DataError(f"duplicate id '{dup}' in the {col} attribute table")
            extra = pd.unique(raw[~pd.Index(raw).isin(attrs.index)])
            ids = np.concatenate([attrs.index.to_numpy(dtype=object), extra.astype(object)])
            attrs = attrs.reindex(ids)
            attrs.index = pd.RangeIndex(len(ids))
            return ids, attrs

        user_ids, users_t = table(users, user_col, raw_u)
        item_ids, items_t = table(items, item_col, raw_i)
        uidx = pd.Index(user_ids).get_indexer(raw_u)
        iidx = pd.Index(item_ids).get_indexer(raw_i)
        rating = None
        if rating_col is not None and rating_col in interactions.columns:
            rating = interactions[rating_col].to_numpy(dtype=np.float32)
        ts = None
        if timestamp_col is not None and timestamp_col in interactions.columns:
            ts = interactions[timestamp_col].to_numpy(dtype=np.int64)
        users_t.index.name, items_t.index.name = "user", "item"
        return cls(uidx, iidx, rating, ts, user_ids, item_ids, users_t, items_t, name, rating_scale)

    # ------------------------------------------------------------ properties
    @property
    def n_users(self) -> int:
        """Number of users: the length of ``user_ids`` (users without interactions included)."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of items: the length of ``item_ids`` (items without interactions included)."""
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        """Number of interaction rows (``len(self.user)``)."""
        return len(self.user)

    def __len__(self) -> int:
        return self.n_interactions

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Binary user×item CSR matrix (1 where an interaction exists)."""
        m = sp.csr_matrix(
            (np.ones(self.n_interactions, dtype=np.float32), (self.user, self.item)),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @cached_property
    def rating_matrix(self) -> sp.csr_matrix:
        """User×item CSR matrix of ratings (the last rating wins for duplicates)."""
        if self.rating is None:
            raise DataError(f"dataset '{self.name}' has no ratings")
        m = sp.coo_matrix((self.rating, (self.user, self.item)), shape=(self.n_users, self.n_items))
        return m.tocsr()

    @cached_property
    def user_counts(self) -> np.ndarray:
        """Interactions per user index (int64, length ``n_users``)."""
        return np.bincount(self.user, minlength=self.n_users)

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Interactions per item index (int64, length ``n_items``)."""
        return np.bincount(self.item, minlength=self.n_items)

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item (``pop_j`` of METRICS.md)."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.int64)

    @property
    def active_users(self) -> np.ndarray:
        """Indices of users with at least one interaction, ascending."""
        return np.flatnonzero(self.user_counts > 0).astype(np.int32)

    # -------------------------------------------------------------- mapping
    def user_index(self, raw_ids: Iterable) -> np.ndarray:
        """Map raw user ids to indices; unknown ids raise :class:`DataError`."""
        return self._index(self.user_ids, raw_ids, "user")

    def item_index(self, raw_ids: Iterable) -> np.ndarray:
        """Map raw item ids to indices; unknown ids raise :class:`DataError`."""
        return self._index(self.item_ids, raw_ids, "item")

    @staticmethod
    def _index(ids: np.ndarray, raw_ids: Iterable, what: str) -> np.ndarray:
        raw = np.asarray([str(r) for r in raw_ids], dtype=object)
        idx = pd.Index(ids).get_indexer(raw)
        if (idx < 0).any():
            bad = raw[idx < 0][0]
            raise DataError(f"unknown {what} id '{bad}'")
        return idx.astype(np.int32)

    # ------------------------------------------------------------- subsets
    def subset(self, mask: np.ndarray, *, name: str | None = None) -> "Dataset":
        """Interactions where ``mask`` is true (boolean) or at the given positions; same index space."""
        mask = np.asarray(mask)
        take = (lambda a: None if a is None else a[mask])
        return replace(
            self,
            user=self.user[mask],
            item=self.item[mask],
            rating=take(self.rating),
            timestamp=take(self.timestamp),
            name=name or self.name,
        )

    def with_interactions(
        self,
        user: np.ndarray,
        item: np.ndarray,
        rating: np.ndarray | None = None,
        timestamp: np.ndarray | None = None,
        *,
        name: str | None = None,
    ) -> "Dataset":
        """A dataset with other interactions in this one's index space and attribute tables."""
        return replace(self, user=user, item=item, rating=rating, timestamp=timestamp, name=name or self.name)

    def items_by_user(self) -> list[np.ndarray]:
        """Item indices of each user (CSR order, i.e. sorted by item index)."""
        m = self.matrix
        return [m.indices[m.indptr[u] : m.indptr[u + 1]] for u in range(self.n_users)]

    def summary(self) -> dict:
        """Counts and attribute columns, as a plain dict (what ``recfair data info`` prints)."""
        n_u_active = int((self.user_counts > 0).sum())
        n_i_active = int((self.item_counts > 0).sum())
        density = self.n_interactions / max(1, self.n_users * self.n_items)
        out = {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "users_with_interactions": n_u_active,
            "items_with_interactions": n_i_active,
            "density": round(density, 6),
            "has_rating": self.rating is not None,
            "has_timestamp": self.timestamp is not None,
            "user_attributes": list(self.users.columns),
            "item_attributes": list(self.items.columns),
        }
        if self.rating is not None and self.n_interactions:
            out["rating_min"] = float(self.rating.min())
            out["rating_max"] = float(self.rating.max())
            out["rating_mean"] = round(float(self.rating.mean()), 4)
        if self.rating_scale is not None:
            out["rating_scale"] = list(self.rating_scale)
        return out

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, users={self.n_users}, items={self.n_items}, "
            f"interactions={self.n_interactions}, rating={self.rating is not None}, "
            f"timestamp={self.timestamp is not None})"
        )


def concat_interactions(parts: Sequence[Dataset], *, name: str | None = None) -> Dataset:
    """Concatenate the interactions of datasets that share one index space."""
    base = parts[0]
    for p in parts[1:]:
        if p.n_users != base.n_users or p.n_items != base.n_items:
            raise DataError("datasets must share one index space to be concatenated")

    def cat(attr: str):
        vals = [getattr(p, attr) for p in parts]
        return None if any(v is None for v in vals) else np.concatenate(vals)

    return base.with_interactions(cat("user"), cat("item"), cat("rating"), cat("timestamp"), name=name)
