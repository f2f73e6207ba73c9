"""Group membership values and the builders that make them from attribute columns.

:class:`Grouping` is what :meth:`recfair.fairness.groups.GroupSpec.assign`
returns: a boolean ``(n, n_groups)`` membership matrix plus labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recfair.errors import RecfairError

#: Most distinct values a numeric column may have before it must be binned.
MAX_CATEGORIES = 30
TOO_MANY_VALUES = (
    "Cannot group {side}s by numeric column '{column}': it has {n} distinct values (more than {max}). "
    "Give bin edges, e.g. '{column}[0,10,20]'."
)


@dataclass(frozen=True, eq=False)
class Grouping:
    """Group membership of users or items.

    Attributes
    ----------
    attribute:
        The grouping's name (``'gender'``, ``'age'``, ``'gender*age'``…).
    labels:
        Group labels, one per column of ``membership``.
    membership:
        Boolean ``(n, n_groups)``; row ``i`` marks the groups of user/item ``i``.
    """

    attribute: str
    labels: tuple[str, ...]
    membership: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        m = np.asarray(self.membership, dtype=bool)
        if m.ndim != 2 or m.shape[1] != len(self.labels):
            raise RecfairError(f"membership must be (n, {len(self.labels)}), got {m.shape}")
        object.__setattr__(self, "membership", m)
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))

    @property
    def n_groups(self) -> int:
        """Number of groups (columns of ``membership``)."""
        return len(self.labels)

    @property
    def exclusive(self) -> bool:
        """True when every row belongs to at most one group."""
        return bool((self.membership.sum(axis=1) <= 1).all())

    @property
    def codes(self) -> np.ndarray:
        """``(n,)`` int64 group index per row, ``-1`` for none (exclusive groupings only)."""
        if not self.exclusive:
            raise RecfairError(f"grouping '{self.attribute}' is multi-valued; it has no single code per row")
        m = self.membership
        return np.where(m.any(axis=1), m.argmax(axis=1), -1).astype(np.int64)

    @property
    def sizes(self) -> np.ndarray:
        """``(n_groups,)`` number of rows in each group."""
        return self.membership.sum(axis=0).astype(np.int64)

    @classmethod
    def from_codes(cls, attribute: str, labels, codes: np.ndarray) -> "Grouping":
        """Exclusive grouping from one group index per row (``-1`` = no group)."""
        codes = np.asarray(codes, dtype=np.int64)
        m = codes[:, None] == np.arange(len(labels))[None, :]
        return cls(attribute, tuple(labels), m)


def is_missing(v) -> bool:
    """Whether an attribute value counts as missing (None, NaN, empty string)."""
    if v is None:
        return True
    if isinstance(v, str):
        return v == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def is_multi_valued(col: pd.Series) -> bool:
    """Whether a column holds tuples / lists / sets (e.g. ``genres``)."""
    return any(isinstance(v, (tuple, list, set, frozenset, np.ndarray)) for v in col.to_numpy())


def bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """Labels of bins with these lower edges: ``'18-24'`` for integers, ``'[a,b)'`` otherwise, last ``'56+'``."""
    integral = all(float(e).is_integer() for e in edges)
    out = []
    for lo, hi in zip(edges, edges[1:] + (None,)):
        if hi is None:
            out.append(f"{lo:g}+")
        elif integral:
            out.append(f"{lo:g}-{hi - 1:g}")
        else:
            out.append(f"[{lo:g},{hi:g})")
    return tuple(out)


def categorical_grouping(col: pd.Series, attribute: str, side: str) -> Grouping:
    """One group per value of ``col`` (multi-valued columns: overlapping groups; numeric: at most MAX_CATEGORIES)."""
    values = col.to_numpy(dtype=object)
    if is_multi_valued(col):
        per_row = [
            tuple(str(x) for x in v) if isinstance(v, (tuple, list, set, frozenset, np.ndarray)) else
            (() if is_missing(v) else (str(v),))
            for v in values
        ]
        labels = tuple(sorted({x for row in per_row for x in row}))
        pos = {lab: i for i, lab in enumerate(labels)}
        m = np.zeros((len(values), len(labels)), dtype=bool)
        for r, row in enumerate(per_row):
            m[r, [pos[x] for x in row]] = True
        return Grouping(attribute, labels, m)
    present = np.array([not is_missing(v) for v in values], dtype=bool)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        distinct = np.unique(col.to_numpy(dtype=np.float64)[present])
        if distinct.size > MAX_CATEGORIES:
            raise RecfairError(TOO_MANY_VALUES.format(side=side, column=col.name, n=distinct.size, max=MAX_CATEGORIES))
        labels = tuple(f"{v:g}" for v in distinct)
        codes = np.full(len(values), -1, dtype=np.int64)
        codes[present] = np.searchsorted(distinct, col.to_numpy(dtype=np.float64)[present])
        return Grouping.from_codes(attribute, labels, codes)
    strs = np.array([str(v) for v in values], dtype=object)
    labels = tuple(sorted(set(strs[present])))
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[present] = pd.Index(labels).get_indexer(strs[present])
    return Grouping.from_codes(attribute, labels, codes)


def binned_grouping(col: pd.Series, attribute: str, edges: tuple[float, ...], labels: tuple[str, ...]) -> Grouping:
    """Bins of a numeric column by lower ``edges``; values below the first edge or NaN get no group."""
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    codes = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="right") - 1
    codes[np.isnan(x)] = -1
    return Grouping.from_codes(attribute, labels, codes)


def top_mask(counts: np.ndarray, top: float) -> np.ndarray:
    """Rows at least as active as the ``ceil(top * n)``-th most active one (ties share the top group)."""
    n = counts.size
    n_top = max(1, math.ceil(top * n - 1e-9))
    threshold = np.sort(counts)[::-1][min(n_top, n) - 1]
    return counts >= threshold
