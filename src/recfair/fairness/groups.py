"""User and item groups for fairness audits.

A :class:`GroupSpec` says *how* to group (a categorical column, bins of a numeric
column, activity, popularity tiers, an intersection); :meth:`GroupSpec.assign`
applies it to a (training) :class:`~recfair.data.Dataset` and returns a
:class:`Grouping`: a boolean membership matrix ``(n, n_groups)`` plus labels.

Policies fixed here (and in docs/fairness.md):

* A user belongs to at most one group of a user grouping.  Users whose
  attribute is missing belong to none and are left out of that attribute's
  audit (and counted).
* Multi-valued item attributes (``genres``): **an item belongs to every group
  it has a value for**, so item groups may overlap and their shares may sum to
  more than 1.  Items with no value belong to no group.
* Activity is measured on the dataset given to :meth:`~GroupSpec.assign` — pass
  the *training* set.  The top group is every user whose number of training
  interactions is at least that of the ``ceil(top · n)``-th most active user
  (``n`` = all users of the index space), so users with equal activity always
  share a group (the group can be slightly larger than ``top · n`` on ties).
* Age bins (METRICS.md): 1-17, 18-24, 25-34, 35-44, 45-49, 50-55, 56+.  Bins are
  left-closed by their lower edge; values below the first edge get no group.

Examples
--------
>>> specs = parse_groups("gender,age,activity,gender*age")
>>> [s.name for s in specs]
['gender', 'age', 'activity', 'gender*age']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recfair.errors import RecfairError
from recfair.fairness.grouping import (
    MAX_CATEGORIES,
    TOO_MANY_VALUES,
    Grouping,
    bin_labels,
    binned_grouping,
    categorical_grouping,
    top_mask,
)

__all__ = [
    "AGE_EDGES",
    "AGE_LABELS",
    "YEAR_EDGES",
    "YEAR_LABELS",
    "POPULARITY_LABELS",
    "GroupSpec",
    "Grouping",
    "parse_groups",
    "parse_item_groups",
]

#: Labels of the two-group popularity split: the short head (items holding ``share`` of
#: training interactions, i.e. the head and mid tiers) and the tail.  Same names as
#: :data:`recfair.metrics.beyond.TIERS`.
POPULARITY_LABELS = ("head", "tail")
#: Lower edges of the METRICS.md age bins and their labels.
AGE_EDGES = (1, 18, 25, 35, 45, 50, 56)
AGE_LABELS = ("1-17", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
#: Default release-year bins.
YEAR_EDGES = (0, 1970, 1980, 1990)
YEAR_LABELS = ("<1970", "1970s", "1980s", "1990+")

UNKNOWN_COLUMN = "Cannot group {side}s by '{column}': the {side} table has no such column. Columns present: {columns}."
BAD_SPEC = (
    "Cannot parse group spec '{spec}'. Expected a column name, 'activity', 'activity[20]' (top 20%), "
    "'age[1,18,25]' (bin lower edges) or an intersection 'a*b'."
)
BAD_EDGES = "Bin edges for '{column}' must be strictly increasing numbers; got {edges}."
ITEM_ONLY = "Group kind '{kind}' groups items; it cannot group users."
USER_ONLY = "Group kind '{kind}' groups users; it cannot group items."


# -------------------------------------------------------------------- spec
@dataclass(frozen=True)
class GroupSpec:
    """How to split users or items into groups.

    Build with the class methods (:meth:`categorical`, :meth:`binned`,
    :meth:`age`, :meth:`activity`, :meth:`intersection`, :meth:`popularity`,
    :meth:`tiers`, :meth:`year`) or parse strings with :func:`parse_groups`.

    Examples
    --------
    >>> GroupSpec.intersection(GroupSpec.categorical("gender"), GroupSpec.age()).name
    'gender*age'
    >>> GroupSpec.activity(0.2).name
    'activity20'
    """

    kind: str
    column: str | None = None
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    top: float = 0.05
    parts: tuple["GroupSpec", ...] = ()
    label: str | None = None

    # ---- constructors
    @classmethod
    def categorical(cls, column: str) -> "GroupSpec":
        """One group per value of ``column`` (multi-valued columns: one per value, overlapping)."""
        return cls("categorical", column=column)

    @classmethod
    def binned(cls, column: str, edges, labels=None) -> "GroupSpec":
        """Bins of a numeric column; ``edges`` are the bins' lower bounds (last bin open)."""
        try:
            e = tuple(float(x) for x in edges)
        except (TypeError, ValueError):
            raise RecfairError(BAD_EDGES.format(column=column, edges=list(edges))) from None
        if len(e) == 0 or any(b <= a for a, b in zip(e, e[1:])):
            raise RecfairError(BAD_EDGES.format(column=column, edges=list(e)))
        labs = tuple(labels) if labels is not None else bin_labels(e)
        if len(labs) != len(e):
            raise RecfairError(f"{len(e)} bin edges need {len(e)} labels, got {len(labs)}")
        return cls("binned", column=column, edges=e, labels=labs)

    @classmethod
    def age(cls, edges=AGE_EDGES) -> "GroupSpec":
        """METRICS.md age bins (or custom lower edges) of the ``age`` column."""
        if tuple(edges) == AGE_EDGES:
            return cls.binned("age", AGE_EDGES, AGE_LABELS)
        return cls.binned("age", edges)

    @classmethod
    def year(cls, edges=YEAR_EDGES) -> "GroupSpec":
        """Release-year bins of the item ``year`` column."""
        if tuple(edges) == YEAR_EDGES:
            return cls.binned("year", YEAR_EDGES, YEAR_LABELS)
        return cls.binned("year", edges)

    @classmethod
    def activity(cls, top: float = 0.05) -> "GroupSpec":
        """Users: top ``top`` share by training interactions (``'top5%'``) vs the rest (``'rest'``)."""
        if not (isinstance(top, (int, float)) and 0 < top < 1):
            raise RecfairError(f"The 'top' parameter of GroupSpec.activity must be in (0, 1). Got {top!r} instead.")
        return cls("activity", top=float(top))

    @classmethod
    def popularity(cls, share: float = 0.8) -> "GroupSpec":
        """Items: ``head`` (items holding ``share`` of training interactions) vs ``tail``."""
        return cls("popularity", top=float(share))

    @classmethod
    def tiers(cls, head_share: float = 0.2, tail_share: float = 0.2) -> "GroupSpec":
        """Items: head / mid / tail by training popularity (Abdollahpouri et al. 2021)."""
        return cls("tiers", edges=(float(head_share), float(tail_share)))

    @classmethod
    def intersection(cls, *parts: "GroupSpec") -> "GroupSpec":
        """Every combination of the parts' groups, labelled ``'F|25-34'``."""
        if len(parts) < 2:
            raise RecfairError("an intersection needs at least two group specs")
        return cls("intersection", parts=tuple(parts))

    # ---- naming
    @property
    def name(self) -> str:
        """Short name used as the ``attribute`` column of audit tables (``label`` if set, e.g. ``'age'``, ``'activity10'``)."""
        if self.label:
            return self.label
        if self.kind == "intersection":
            return "*".join(p.name for p in self.parts)
        if self.kind == "activity":
            return "activity" if self.top == 0.05 else f"activity{self.top * 100:g}"
        if self.kind == "popularity":
            return "popularity" if self.top == 0.8 else f"popularity{self.top * 100:g}"
        if self.kind == "tiers":
            return "tiers" if self.edges == (0.2, 0.2) else f"tiers{self.edges[0] * 100:g}-{self.edges[1] * 100:g}"
        if self.kind == "binned" and self.edges not in (AGE_EDGES, YEAR_EDGES):
            return f"{self.column}[{','.join(f'{e:g}' for e in self.edges)}]"
        return str(self.column)

    # ---- application
    def assign(self, train, side: str = "user") -> Grouping:
        """Groups of every user (``side='user'``) or item (``side='item'``) of ``train``'s index space."""
        if side not in ("user", "item"):
            raise RecfairError(f"side must be 'user' or 'item', got {side!r}")
        table = train.users if side == "user" else train.items
        if self.kind == "intersection":
            subs = [p.assign(train, side) for p in self.parts]
            for s in subs:
                if not s.exclusive:
                    raise RecfairError(f"cannot intersect multi-valued grouping '{s.attribute}'")
            codes = np.zeros(subs[0].membership.shape[0], dtype=np.int64)
            valid = np.ones_like(codes, dtype=bool)
            for s in subs:
                c = s.codes
                valid &= c >= 0
                codes = codes * s.n_groups + np.maximum(c, 0)
            labels = [""]
            for s in subs:
                labels = [f"{a}|{b}" if a else b for a in labels for b in s.labels]
            return Grouping.from_codes(self.name, labels, np.where(valid, codes, -1))
        if self.kind == "activity":
            if side != "user":
                raise RecfairError(USER_ONLY.format(kind=self.kind))
            top = top_mask(np.asarray(train.user_counts), self.top)
            return Grouping.from_codes(self.name, (f"top{self.top * 100:g}%", "rest"), np.where(top, 0, 1))
        if self.kind in ("popularity", "tiers"):
            if side != "item":
                raise RecfairError(ITEM_ONLY.format(kind=self.kind))
            from recfair.metrics.beyond import TIERS, popularity_tiers, short_head

            if self.kind == "popularity":
                head = short_head(train, self.top)
                # the tiers with mid merged into head: "tail" is the same items as in "tiers"
                return Grouping.from_codes(self.name, POPULARITY_LABELS, np.where(head, 0, 1))
            tiers = popularity_tiers(train, *self.edges)
            return Grouping.from_codes(self.name, TIERS, pd.Index(TIERS).get_indexer(tiers))
        if self.column not in table.columns:
            raise RecfairError(UNKNOWN_COLUMN.format(side=side, column=self.column, columns=list(table.columns)))
        if self.kind == "binned":
            return binned_grouping(table[self.column], self.name, self.edges, self.labels)
        return categorical_grouping(table[self.column], self.name, side)


# ------------------------------------------------------------------ parser
_TOKEN = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(?:\[\s*([^\]]*)\s*\])?\s*$")


def _split_top(spec: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in spec:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [s.strip() for s in out if s.strip()]


def _parse_one(token: str, side: str) -> GroupSpec:
    if "*" in token:
        return GroupSpec.intersection(*(_parse_one(t, side) for t in token.split("*")))
    m = _TOKEN.match(token)
    if not m:
        raise RecfairError(BAD_SPEC.format(spec=token))
    name, arg = m.group(1), m.group(2)
    args: list[float] = []
    if arg is not None:
        try:
            args = [float(a) for a in arg.split(",") if a.strip()]
        except ValueError:
            raise RecfairError(BAD_SPEC.format(spec=token)) from None
    if side == "user" and name == "activity":
        if len(args) > 1:
            raise RecfairError(BAD_SPEC.format(spec=token))
        top = args[0] if args else 5.0
        return GroupSpec.activity(top / 100.0)
    if side == "item" and name == "popularity":
        return GroupSpec.popularity(args[0] / 100.0 if args else 0.8)
    if side == "item" and name == "tiers":
        if args and len(args) != 2:
            raise RecfairError(BAD_SPEC.format(spec=token))
        return GroupSpec.tiers(*(a / 100.0 for a in args)) if args else GroupSpec.tiers()
    if name == "age" and not args:
        return GroupSpec.age()
    if name == "year" and not args:
        return GroupSpec.year()
    if args:
        return GroupSpec.binned(name, args)
    return GroupSpec.categorical(name)


def parse_groups(spec, side: str = "user") -> list[GroupSpec]:
    """Parse ``"gender,age,activity,gender*age"`` into :class:`GroupSpec` objects.

    Grammar: comma-separated tokens; ``name`` (a column; ``age`` → METRICS.md
    bins), ``name[e1,e2,…]`` (bins with these lower edges), ``activity`` (top 5%
    vs rest), ``activity[20]`` (top 20%), ``a*b`` (intersection).  For items:
    ``popularity`` (head / tail), ``popularity[80]``, ``tiers``
    (head/mid/tail), ``tiers[20,20]``, ``year`` (release-year bins), ``genres``.
    A list of strings and/or :class:`GroupSpec` objects is accepted too.
    """
    if isinstance(spec, GroupSpec):
        return [spec]
    if isinstance(spec, str):
        tokens = _split_top(spec)
    else:
        out: list[GroupSpec] = []
        for s in spec:
            out.extend(parse_groups(s, side))
        return out
    return [_parse_one(t, side) for t in tokens]


def parse_item_groups(spec) -> list[GroupSpec]:
    """:func:`parse_groups` for item groupings (``"popularity,tiers,genres,year"``)."""
    return parse_groups(spec, side="item")
