"""Fairness audits: user-side, item-side, rating unfairness, attribute leakage, data bias.

>>> from recfair.fairness import audit, parse_groups          # doctest: +SKIP
>>> result = audit(recs, split, groups="gender,age,activity")  # doctest: +SKIP
>>> print(result.summary())                                   # doctest: +SKIP

Definitions: docs/fairness.md (from METRICS.md).
"""

from recfair.fairness.compare import COMPARE_GAP_COLUMNS, COMPARE_GROUP_COLUMNS, Comparison, compare_users, group_labels
from recfair.fairness.audit import Audit, TableSet, audit, default_item_groups, default_user_groups
from recfair.fairness.data_audit import DataAudit, audit_data
from recfair.fairness.groups import AGE_EDGES, AGE_LABELS, GroupSpec, Grouping, parse_groups, parse_item_groups
from recfair.fairness.item import ItemAudit, audit_items, item_group_table, item_metrics, rsp_reo
from recfair.fairness.leakage import (
    LeakageResult,
    attribute_leakage,
    leakage_from_embeddings,
    leakage_from_recs,
    multi_hot,
)
from recfair.fairness.rating import RATING_UNFAIRNESS, rating_unfairness, rating_unfairness_torch
from recfair.fairness.strata import STRATA_COLUMNS, activity_strata, gaps_within_strata
from recfair.fairness.stats import bootstrap_means, permutation_gap_test
from recfair.fairness.user import SmallGroupWarning, UserAudit, audit_users, ugf

__all__ = [
    "COMPARE_GAP_COLUMNS",
    "COMPARE_GROUP_COLUMNS",
    "Comparison",
    "STRATA_COLUMNS",
    "activity_strata",
    "compare_users",
    "gaps_within_strata",
    "group_labels",
    "AGE_EDGES",
    "AGE_LABELS",
    "Audit",
    "DataAudit",
    "GroupSpec",
    "Grouping",
    "ItemAudit",
    "LeakageResult",
    "RATING_UNFAIRNESS",
    "SmallGroupWarning",
    "TableSet",
    "UserAudit",
    "attribute_leakage",
    "audit",
    "audit_data",
    "audit_items",
    "audit_users",
    "bootstrap_means",
    "default_item_groups",
    "default_user_groups",
    "item_group_table",
    "item_metrics",
    "leakage_from_embeddings",
    "leakage_from_recs",
    "multi_hot",
    "parse_groups",
    "parse_item_groups",
    "permutation_gap_test",
    "rating_unfairness",
    "rating_unfairness_torch",
    "rsp_reo",
    "ugf",
]
