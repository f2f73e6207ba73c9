"""Data-bias audit: the bias already in the interactions, before any model.

:func:`audit_data` returns a :class:`DataAudit` with four tidy tables:

* ``user_groups`` — per user grouping × group: users and their share, interactions
  and their share, mean / median interactions per user, mean rating.  Users with
  no value for the attribute form a ``(none)`` row, so shares sum to 1.
* ``rating_distribution`` — per user group × rating value: count and share of
  that group's ratings (empty when the data has no ratings).
* ``item_groups`` — per item grouping × group: items and share of catalogue,
  interactions and their share, mean rating.  Multi-valued groupings (genres)
  overlap: an item counts in every genre it has, so shares may sum to more than 1.
* ``concentration`` — popularity concentration: Gini of item interaction counts
  (all items, zeros included), size and interaction share of the short head,
  share of interactions on the top 1% / 10% of items, share of items never
  interacted with, and the Gini of user activity.

Activity and popularity groups are computed on the audited data itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.fairness.audit import TableSet, format_number, default_item_groups, default_user_groups
from recfair.fairness.groups import Grouping, parse_groups, parse_item_groups
from recfair.metrics.beyond import gini, short_head

__all__ = ["DataAudit", "audit_data"]

DATA_USER_COLUMNS = (
    "attribute", "group", "n_users", "user_share", "n_interactions", "interaction_share",
    "mean_activity", "median_activity", "mean_rating",
)
RATING_DIST_COLUMNS = ("attribute", "group", "rating", "count", "share")
DATA_ITEM_COLUMNS = ("attribute", "group", "n_items", "catalogue_share", "n_interactions", "interaction_share",
                     "mean_rating")
CONCENTRATION_COLUMNS = ("metric", "value")
NONE_GROUP = "(none)"


class DataAudit(TableSet):
    """Result of :func:`audit_data` (tables ``user_groups``, ``rating_distribution``,
    ``item_groups``, ``concentration``)."""

    KIND = "data"
    TABLES = {
        "user_groups": DATA_USER_COLUMNS,
        "rating_distribution": RATING_DIST_COLUMNS,
        "item_groups": DATA_ITEM_COLUMNS,
        "concentration": CONCENTRATION_COLUMNS,
    }

    def summary(self) -> str:
        """Multi-line plain-text report: sizes, user groups, item groups and concentration, numbers rounded."""
        m = self.meta
        lines = [f"Data audit of '{m.get('dataset')}': {m.get('n_users')} users, {m.get('n_items')} items, "
                 f"{m.get('n_interactions')} interactions"]
        lines.append("\nUser groups (share of users vs share of interactions):")
        for _, r in self.tables["user_groups"].iterrows():
            lines.append(f"  {r['attribute']:<11} {r['group']:<14} users {r['n_users']:>6} ({format_number(r['user_share'], 3)})"
                         f"  interactions {format_number(r['interaction_share'], 3)}  mean/median activity "
                         f"{format_number(r['mean_activity'], 1)}/{format_number(r['median_activity'], 1)}  mean rating "
                         f"{format_number(r['mean_rating'], 3)}")
        lines.append("\nItem groups (share of catalogue vs share of interactions):")
        for _, r in self.tables["item_groups"].iterrows():
            lines.append(f"  {r['attribute']:<11} {r['group']:<14} items {r['n_items']:>6} "
                         f"({format_number(r['catalogue_share'], 3)})  interactions {format_number(r['interaction_share'], 3)}  "
                         f"mean rating {format_number(r['mean_rating'], 3)}")
        lines.append("\nConcentration: " + ", ".join(f"{r['metric']} {format_number(r['value'], 4)}"
                                                     for _, r in self.tables["concentration"].iterrows()))
        return "\n".join(lines)


def _group_stats(member: np.ndarray, counts: np.ndarray, rating_sum: np.ndarray | None):
    n = member.sum(axis=0).astype(np.int64)
    inter = member.T.astype(np.float64) @ counts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = (member.T.astype(np.float64) @ rating_sum) / inter if rating_sum is not None else \
            np.full(n.shape, np.nan)
    return n, inter, np.where(inter > 0, mean_rating, np.nan)


def _with_none(g: Grouping) -> tuple[list[str], np.ndarray]:
    labels, m = list(g.labels), g.membership
    none = ~m.any(axis=1)
    if none.any():
        labels.append(NONE_GROUP)
        m = np.concatenate([m, none[:, None]], axis=1)
    return labels, m


def audit_data(dataset, groups=None, item_groups=None) -> DataAudit:
    """Audit a dataset's interactions by user and item group.

    Parameters
    ----------
    dataset : Dataset
    groups : str or list, optional
        User groupings (:func:`~recfair.fairness.groups.parse_groups`); default
        gender and age (when present) and activity.
    item_groups : str or list, optional
        Item groupings; default short head / long tail, head / mid / tail, and
        genres when present.

    Examples
    --------
    >>> da = audit_data(load_dataset("ml-100k"), "gender,age")  # doctest: +SKIP
    >>> print(da.summary())  # doctest: +SKIP
    """
    specs = default_user_groups(dataset) if groups is None else parse_groups(groups)
    ispecs = default_item_groups(dataset) if item_groups is None else parse_item_groups(item_groups)
    ucounts = np.asarray(dataset.user_counts, dtype=np.float64)
    icounts = np.asarray(dataset.item_counts, dtype=np.float64)
    total = float(ucounts.sum())
    r = dataset.rating
    u_rsum = np.bincount(dataset.user, weights=r, minlength=dataset.n_users) if r is not None else None
    i_rsum = np.bincount(dataset.item, weights=r, minlength=dataset.n_items) if r is not None else None
    rating_values, rating_code = np.unique(r, return_inverse=True) if r is not None else (np.empty(0), None)
    urows, drows, irows = [], [], []
    for spec in specs:
        g = spec.assign(dataset, "user")
        labels, m = _with_none(g)
        n, inter, mean_r = _group_stats(m, ucounts, u_rsum)
        for j, lab in enumerate(labels):
            act = ucounts[m[:, j]]
            urows.append({
                "attribute": g.attribute, "group": lab, "n_users": int(n[j]),
                "user_share": n[j] / dataset.n_users if dataset.n_users else np.nan,
                "n_interactions": int(inter[j]), "interaction_share": inter[j] / total if total else np.nan,
                "mean_activity": float(act.mean()) if act.size else np.nan,
                "median_activity": float(np.median(act)) if act.size else np.nan,
                "mean_rating": float(mean_r[j]),
            })
            if r is not None:
                sel = m[:, j][dataset.user]
                cnt = np.bincount(rating_code[sel], minlength=rating_values.size)
                for v, c in zip(rating_values, cnt):
                    drows.append({"attribute": g.attribute, "group": lab, "rating": float(v), "count": int(c),
                                  "share": c / cnt.sum() if cnt.sum() else np.nan})
    for spec in ispecs:
        g = spec.assign(dataset, "item")
        n, inter, mean_r = _group_stats(g.membership, icounts, i_rsum)
        for j, lab in enumerate(g.labels):
            irows.append({
                "attribute": g.attribute, "group": lab, "n_items": int(n[j]),
                "catalogue_share": n[j] / dataset.n_items if dataset.n_items else np.nan,
                "n_interactions": int(inter[j]), "interaction_share": inter[j] / total if total else np.nan,
                "mean_rating": float(mean_r[j]),
            })
    conc = _concentration(dataset, icounts, ucounts)
    meta = {"dataset": str(dataset.name), "n_users": int(dataset.n_users), "n_items": int(dataset.n_items),
            "n_interactions": int(dataset.n_interactions), "groups": [s.name for s in specs],
            "item_groups": [s.name for s in ispecs]}
    return DataAudit({
        "user_groups": pd.DataFrame(urows, columns=list(DATA_USER_COLUMNS)),
        "rating_distribution": pd.DataFrame(drows, columns=list(RATING_DIST_COLUMNS)),
        "item_groups": pd.DataFrame(irows, columns=list(DATA_ITEM_COLUMNS)),
        "concentration": pd.DataFrame(conc, columns=list(CONCENTRATION_COLUMNS)),
    }, meta)


def _top_share(counts: np.ndarray, frac: float) -> float:
    n_top = max(1, int(np.ceil(frac * counts.size - 1e-9)))
    total = counts.sum()
    return float(np.sort(counts)[::-1][:n_top].sum() / total) if total else float("nan")


def _concentration(dataset, icounts: np.ndarray, ucounts: np.ndarray) -> list[tuple[str, float]]:
    if dataset.n_interactions == 0:
        return [("item_gini", float("nan"))]
    head = short_head(dataset)
    pop = np.asarray(dataset.item_popularity, dtype=np.float64)
    return [
        ("item_gini", gini(icounts)),
        ("head_items", float(head.sum())),
        ("head_item_share", float(head.mean())),
        ("head_interaction_share", float(pop[head].sum() / pop.sum())),
        ("top1%_interaction_share", _top_share(icounts, 0.01)),
        ("top10%_interaction_share", _top_share(icounts, 0.10)),
        ("items_without_interactions", float((icounts == 0).mean())),
        ("user_activity_gini", gini(ucounts)),
    ]
