"""A rating model's own numbers: RMSE / MAE overall and by group, and Yao & Huang's measures.

``recfair evaluate`` and ``recfair audit`` add these for models that predict
ratings (MF with squared error), so a rating-unfairness penalty's effect is
visible from the command line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.fairness.groups import parse_groups
from recfair.fairness.rating import RATING_UNFAIRNESS, rating_unfairness
from recfair.metrics.rating import mae, rmse

GROUP_COLUMNS = ["grouping", "group", "n", "rmse", "mae"]
UNFAIRNESS_COLUMNS = ["grouping", "group", "rest", *RATING_UNFAIRNESS, "n_items"]


def _predictions(model, test) -> np.ndarray:
    return np.asarray(model.predict(test.user, test.item), dtype=np.float64)


def rating_errors(model, test) -> dict[str, float]:
    """``{"rmse": …, "mae": …}`` over every test rating."""
    pred = _predictions(model, test)
    return {"rmse": rmse(pred, test), "mae": mae(pred, test)}


def rating_by_group(model, split, groups: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group RMSE / MAE and the five Yao & Huang measures (each group vs the rest).

    A two-group grouping gives one unfairness row (first group vs the other);
    a larger one gives one row per group against everyone else.
    """
    test = split.test
    pred = _predictions(model, test)
    err = pred - test.rating.astype(np.float64)
    g_rows, u_rows = [], []
    for spec in parse_groups(groups):
        grouping = spec.assign(split.train, "user")
        member = grouping.membership[test.user]
        for j, label in enumerate(grouping.labels):
            m = member[:, j]
            n = int(m.sum())
            g_rows.append({"grouping": grouping.attribute, "group": label, "n": n,
                           "rmse": float(np.sqrt(np.mean(err[m] ** 2))) if n else float("nan"),
                           "mae": float(np.mean(np.abs(err[m]))) if n else float("nan")})
        labels = grouping.labels[:1] if grouping.n_groups == 2 else grouping.labels
        for j, label in enumerate(labels):
            g = grouping.membership[:, j]
            rest = "other" if grouping.n_groups != 2 else grouping.labels[1]
            row = rating_unfairness(test.user, test.item, test.rating, pred, g)
            u_rows.append({"grouping": grouping.attribute, "group": label, "rest": rest, **row})
    return pd.DataFrame(g_rows, columns=GROUP_COLUMNS), pd.DataFrame(u_rows, columns=UNFAIRNESS_COLUMNS)
