"""Value labels of user profile fields, shared by prompt vocabularies and the probe.

A categorical field's labels are its distinct values as strings (sorted); a numeric
field is binned: ``age`` by ML-1M's age groups (:data:`AGE_BINS`), any other
numeric field by the quintiles of its observed values.

Examples
--------
>>> bin_labels(AGE_BINS)
['<18', '18-24', '25-34', '35-44', '45-49', '50-55', '56+']
>>> bin_value(30, AGE_BINS)
'25-34'
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: ML-1M's age groups, used for any profile field named ``age``.
AGE_BINS = (18, 25, 35, 45, 50, 56)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the bins cut by ``edges``: ``['<18', '18-24', ..., '56+']`` for :data:`AGE_BINS`."""
    e = [int(x) if float(x).is_integer() else x for x in edges]
    labels = [f"<{e[0]}"]
    labels += [f"{lo}-{hi - 1}" if isinstance(hi, int) else f"{lo}-{hi}" for lo, hi in zip(e[:-1], e[1:])]
    labels.append(f"{e[-1]}+")
    return labels


def bin_value(x: float, edges: Sequence[float]) -> str:
    """The label (see :func:`bin_labels`) of the bin holding ``x``."""
    return bin_labels(edges)[int(np.searchsorted(np.asarray(edges, float), x, side="right"))]


def profile_values(
    users: pd.DataFrame, fields: Sequence[str]
) -> tuple[list[str], dict[str, tuple[str, ...]], dict[str, tuple[float, ...]]]:
    """Fields of ``users`` among ``fields`` (others skipped), their value labels and numeric bin edges.

    Returns
    -------
    (kept fields, labels per field, bin edges per numeric field)
    """
    kept, values, edges = [], {}, {}
    for f in fields:
        if f not in users.columns:
            continue
        col = users[f]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            if f == "age":
                e: tuple[float, ...] = AGE_BINS
            else:  # quintiles of the observed values
                qs = np.unique(np.nanquantile(col.to_numpy(float), [0.2, 0.4, 0.6, 0.8]))
                e = tuple(float(q) for q in qs)
            edges[f] = tuple(e)
            values[f] = tuple(bin_labels(e))
        else:
            values[f] = tuple(sorted({str(v) for v in col.dropna()}))
        kept.append(f)
    return kept, values, edges
