"""The study store's tables: name → columns with DuckDB types (grain in each comment).

The fairness tables reuse the column tuples of :mod:`recfair.fairness` so the
store can never drift from what the audit functions return; the store adds
the key columns (``cell_id``; ``cell_a``/``cell_b`` for comparisons).  JSON
values (``params``, ``versions``…) are kept as canonical JSON text.
"""

from __future__ import annotations

from recfair.fairness.compare import COMPARE_GAP_COLUMNS, COMPARE_GROUP_COLUMNS
from recfair.fairness.item import ITEM_FAIRNESS_COLUMNS
from recfair.fairness.strata import STRATA_COLUMNS
from recfair.fairness.user import USER_GAP_COLUMNS, USER_GROUP_COLUMNS

__all__ = ["CELL_COLUMNS", "CELL_TABLES", "JSON_COLUMNS", "PAIR_TABLES", "SCHEMA", "SCHEMA_VERSION", "STATUSES"]

SCHEMA_VERSION = 1
#: Values of ``cells.status``.  A cell is *done* iff its row says ``done``.
STATUSES = ("done", "failed")

_TEXT = "VARCHAR"
_INT = "BIGINT"
_REAL = "DOUBLE"
#: Types of columns shared by several tables; anything else defaults to DOUBLE.
_TYPES = {
    "attribute": _TEXT, "group": _TEXT, "metric": _TEXT, "max_group": _TEXT, "min_group": _TEXT,
    "high_group": _TEXT, "low_group": _TEXT, "strata": _TEXT, "kind": _TEXT, "stratum": _TEXT,
    "n": _INT, "n_missing": _INT, "n_groups": _INT, "n_ungrouped": _INT,
}


def _typed(columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((c, _TYPES.get(c, _REAL)) for c in columns)


#: One row per cell; written last in a cell's transaction.
CELL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cell_id", _TEXT), ("parent_id", _TEXT), ("dataset", _TEXT), ("fingerprint", _TEXT), ("split", _TEXT),
    ("model", _TEXT), ("params", _TEXT), ("mitigation", _TEXT), ("mitigation_params", _TEXT),
    ("seed", _INT), ("status", _TEXT), ("error", _TEXT), ("started", _TEXT), ("finished", _TEXT),
    ("seconds", _TEXT), ("versions", _TEXT), ("config", _TEXT), ("artefacts", _TEXT),
)
JSON_COLUMNS = ("params", "mitigation_params", "seconds", "versions", "config")

#: Tables holding rows of one cell (key ``cell_id``), in commit order.
CELL_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    # cell × metric: Evaluation.overall plus item-side scalars
    "overall": (("metric", _TEXT), ("value", _REAL)),
    # cell × user × metric (raw user ids)
    "user_metrics": (("user_id", _TEXT), ("metric", _TEXT), ("k", _INT), ("value", _REAL)),
    # cell × user × attribute: the user's group (so comparisons need no data set)
    "user_groups": (("user_id", _TEXT), ("attribute", _TEXT), ("group", _TEXT)),
    # cell × grouping × group × metric
    "group_metrics": _typed(USER_GROUP_COLUMNS),
    # cell × grouping × metric
    "gaps": _typed(USER_GAP_COLUMNS),
    # cell × grouping × strata × stratum × metric
    "strata_gaps": _typed(STRATA_COLUMNS),
    # cell × item (raw item ids)
    "item_exposure": (("item_id", _TEXT), ("exposure", _REAL), ("share", _REAL), ("tier", _TEXT)),
    # cell × item grouping × metric (RSP, REO…)
    "item_fairness": _typed(ITEM_FAIRNESS_COLUMNS),
    # cell × attribute × value × reference × measure (counterfactual probe)
    "probe": (("attribute", _TEXT), ("value", _TEXT), ("reference", _TEXT), ("measure", _TEXT), ("sim", _REAL)),
    # cell × attribute × measure (SNSR / SNSV)
    "probe_summary": (("attribute", _TEXT), ("measure", _TEXT), ("snsr", _REAL), ("snsv", _REAL),
                      ("n_values", _INT), ("scale", _TEXT)),
    # cell × simulation round × metric
    "rounds": (("round", _INT), ("metric", _TEXT), ("value", _REAL)),
}

#: Tables keyed by a pair of done cells (``cell_a`` baseline, ``cell_b`` model).
PAIR_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "comparisons": _typed(COMPARE_GROUP_COLUMNS),
    "comparison_gaps": _typed(COMPARE_GAP_COLUMNS),
}

#: Every table with its full column list (keys first).
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "meta": (("key", _TEXT), ("value", _TEXT)),
    "cells": CELL_COLUMNS,
    **{name: (("cell_id", _TEXT),) + cols for name, cols in CELL_TABLES.items()},
    **{name: (("cell_a", _TEXT), ("cell_b", _TEXT)) + cols for name, cols in PAIR_TABLES.items()},
}
