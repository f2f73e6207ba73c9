"""Item-side fairness: exposure by item group, RSP / REO, and list-level metrics.

Reuses :mod:`recfair.metrics.beyond` for exposure, Gini, coverage, popularity
tiers and the per-user beyond-accuracy metrics; adds what is fairness-specific:

* :func:`item_group_table` — per item group: share of catalogue, of training
  interactions, of test relevance, of recommendation slots and of
  position-weighted exposure, plus the two conditional probabilities behind
  RSP and REO (Zhu et al. 2020; METRICS.md):
  ``P(R@k|g) = Σ_u |L_u ∩ I_g| / Σ_u |I_g \\ S_u|`` and
  ``P(R@k|g,y=1) = Σ_u |L_u ∩ I_g ∩ T_u| / Σ_u |I_g ∩ T_u|``.
* :func:`rsp_reo` — ``std_g P / mean_g P`` (population std, ddof = 0) over the
  groups where ``P`` is defined (denominator > 0).  With popularity tiers these
  are PopRSP / PopREO.
* :func:`item_metrics` — coverage, exposure Gini, and the user-mean of ARP,
  APLT, ACLT, novelty, intra-list diversity, miscalibration and popularity
  calibration.

Multi-valued groupings (genres): an item counts fully in every group it
belongs to, so the shares of all groups can sum to more than 1; each share is
relative to the catalogue / all slots / all exposure, never to the sum of the
groups.  Users are those of ``recs``; ``S_u`` is ``seen`` (default: training).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.fairness.groups import Grouping, GroupSpec
from recfair.metrics import beyond
from recfair.metrics.ranking import check_lists
from recfair.recommendations import Recommendations

__all__ = [
    "ITEM_FAIRNESS_COLUMNS",
    "ITEM_GROUP_COLUMNS",
    "ITEM_METRIC_COLUMNS",
    "ItemAudit",
    "audit_items",
    "item_group_table",
    "item_metrics",
    "rsp_reo",
]

ITEM_GROUP_COLUMNS = (
    "attribute", "group", "n_items", "catalogue_share", "train_share", "test_share",
    "rec_share", "exposure", "exposure_share", "p_rec", "p_rec_relevant",
)
ITEM_FAIRNESS_COLUMNS = ("attribute", "metric", "value", "n_groups")
ITEM_METRIC_COLUMNS = ("metric", "value", "n_users")


@dataclass(frozen=True, eq=False)
class ItemAudit:
    """Tables of :func:`audit_items`: ``groups``, ``fairness`` (RSP/REO), ``metrics``."""

    groups: pd.DataFrame
    fairness: pd.DataFrame
    metrics: pd.DataFrame


def _share(part: np.ndarray, total: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return part / total if total > 0 else np.full(part.shape, np.nan)


def item_group_table(
    recs: Recommendations, train, test, grouping: Grouping, k: int, *, seen=None
) -> pd.DataFrame:
    """Per item group: catalogue / train / test / slot / exposure shares and P(R@k|g), P(R@k|g,y=1).

    Parameters
    ----------
    recs : Recommendations
    train, test : Dataset
        Same index space; ``train`` gives popularity, ``test`` relevance.
    grouping : Grouping
        Item grouping (``(n_items, G)`` membership; may overlap).
    k : int
    seen : Dataset, optional
        Interactions excluded from the candidates (``S_u``); default ``train``.

    Returns
    -------
    DataFrame with columns :data:`ITEM_GROUP_COLUMNS`, one row per group.
    """
    n_items = train.n_items
    check_lists(recs, train.n_users, n_items)
    seen = train if seen is None else seen
    member = sp.csr_matrix(grouping.membership.astype(np.float64))  # (I, G)
    lists = beyond.list_matrix(recs, n_items, k)  # (n, I) binary
    exposure = beyond.item_exposure(recs, n_items, k)
    users = recs.users
    test_m = test.matrix[users]
    seen_m = seen.matrix[users]
    slots = np.asarray(lists.sum(axis=0)).ravel()
    test_cnt = np.asarray(test_m.sum(axis=0)).ravel()
    pop = np.asarray(train.item_popularity, dtype=np.float64)
    size = grouping.sizes.astype(np.float64)
    g_slots = member.T @ slots
    g_exp = member.T @ exposure
    g_test = member.T @ test_cnt
    g_pop = member.T @ pop
    # Σ_u |I_g \ S_u| = n_users·|I_g| − Σ_u |I_g ∩ S_u|
    cand = len(users) * size - np.asarray((seen_m @ member).sum(axis=0)).ravel()
    hits = lists.multiply(test_m)
    g_hits = np.asarray((hits @ member).sum(axis=0)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        p_rec = np.where(cand > 0, g_slots / cand, np.nan)
        p_rel = np.where(g_test > 0, g_hits / g_test, np.nan)
    return pd.DataFrame({
        "attribute": grouping.attribute,
        "group": list(grouping.labels),
        "n_items": grouping.sizes,
        "catalogue_share": _share(size, float(n_items)),
        "train_share": _share(g_pop, float(pop.sum())),
        "test_share": _share(g_test, float(test_cnt.sum())),
        "rec_share": _share(g_slots, float(slots.sum())),
        "exposure": g_exp,
        "exposure_share": _share(g_exp, float(exposure.sum())),
        "p_rec": p_rec,
        "p_rec_relevant": p_rel,
    }, columns=list(ITEM_GROUP_COLUMNS))


def _cv(p: np.ndarray) -> tuple[float, int]:
    p = np.asarray(p, dtype=np.float64)
    p = p[~np.isnan(p)]
    if p.size == 0 or p.mean() == 0:
        return float("nan"), int(p.size)
    return float(p.std(ddof=0) / p.mean()), int(p.size)


def rsp_reo(recs: Recommendations, train, test, grouping: Grouping, k: int, *, seen=None) -> tuple[float, float]:
    """``(RSP@k, REO@k)`` for an item grouping (PopRSP / PopREO for popularity tiers).

    ``std_g P / mean_g P`` with population std over groups where ``P`` is defined;
    ``nan`` when no group has a defined probability or their mean is 0.
    """
    t = item_group_table(recs, train, test, grouping, k, seen=seen)
    return _cv(t["p_rec"].to_numpy())[0], _cv(t["p_rec_relevant"].to_numpy())[0]


def _user_mean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(v)) if (~np.isnan(v)).any() else float("nan")


def item_metrics(recs: Recommendations, train, test, k: int, *, seen=None, item_vectors=None) -> pd.DataFrame:
    """List-level metrics: coverage, exposure Gini, user means of ARP/APLT/ACLT/novelty/ILD/
    miscalibration/popularity calibration, and PopRSP / PopREO (short head vs long tail).

    Metrics needing genres (ILD without ``item_vectors``, miscalibration) are
    ``nan`` when the item table has no ``genres`` column.  ``n_users`` counts the
    users whose value entered the mean.
    """
    n_items = train.n_items
    has_genres = "genres" in train.items.columns
    rows: list[tuple[str, float, int]] = []
    n = len(recs)
    rows.append((f"coverage@{k}", beyond.catalog_coverage(recs, n_items, k), n))
    rows.append((f"exposure_gini@{k}", beyond.exposure_gini(recs, n_items, k), n))
    per_user = {
        "arp": lambda: beyond.arp(recs, train, k),
        "aplt": lambda: beyond.aplt(recs, train, k),
        "aclt": lambda: beyond.aclt(recs, train, k),
        "novelty": lambda: beyond.novelty(recs, train, k),
        "ild": (lambda: beyond.intra_list_diversity(recs, train, k, item_vectors=item_vectors))
        if (has_genres or item_vectors is not None) else None,
        "miscalibration": (lambda: beyond.miscalibration(recs, train, k)) if has_genres else None,
        "popcal": lambda: beyond.popularity_calibration(recs, train, k),
    }
    for name, fn in per_user.items():
        if fn is None:
            rows.append((f"{name}@{k}", float("nan"), 0))
            continue
        v = fn()
        rows.append((f"{name}@{k}", _user_mean(v), int((~np.isnan(v)).sum())))
    pop = GroupSpec.popularity().assign(train, "item")
    rsp, reo = rsp_reo(recs, train, test, pop, k, seen=seen)
    rows.append((f"pop_rsp@{k}", rsp, n))
    rows.append((f"pop_reo@{k}", reo, n))
    return pd.DataFrame(rows, columns=list(ITEM_METRIC_COLUMNS))


def audit_items(
    recs: Recommendations, train, test, groupings, k: int, *, seen=None, item_vectors=None
) -> ItemAudit:
    """All item-side tables for a list of item groupings (see module docstring)."""
    groupings = [groupings] if isinstance(groupings, Grouping) else list(groupings)
    tables, fair = [], []
    for g in groupings:
        t = item_group_table(recs, train, test, g, k, seen=seen)
        tables.append(t)
        for metric, col in (("rsp", "p_rec"), ("reo", "p_rec_relevant")):
            value, n_groups = _cv(t[col].to_numpy())
            fair.append({"attribute": g.attribute, "metric": f"{metric}@{k}", "value": value, "n_groups": n_groups})
    groups = (pd.concat(tables, ignore_index=True) if tables
              else pd.DataFrame(columns=list(ITEM_GROUP_COLUMNS)))
    fairness = pd.DataFrame(fair, columns=list(ITEM_FAIRNESS_COLUMNS))
    return ItemAudit(groups, fairness, item_metrics(recs, train, test, k, seen=seen, item_vectors=item_vectors))
