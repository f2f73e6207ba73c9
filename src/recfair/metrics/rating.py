"""Rating-prediction error: RMSE and MAE over test ``(u, i, r)``, overall and per user.

``predictions`` are predicted ratings aligned with the test interactions
(``predictions[t]`` is the prediction for ``(test.user[t], test.item[t])``),
e.g. ``model.predict(test.user, test.item)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.errors import RecfairError

__all__ = ["mae", "per_user_errors", "rmse"]

NO_TEST_RATINGS = "Rating metrics need test ratings, but the test set '{name}' has none."
BAD_SHAPE = "predictions must have one value per test interaction ({n}); got shape {shape}."
NOT_FINITE = "predictions must be finite; position {pos} holds {value}."


def _errors(predictions: np.ndarray, test) -> np.ndarray:
    if test.rating is None:
        raise RecfairError(NO_TEST_RATINGS.format(name=test.name))
    pred = np.asarray(predictions, dtype=np.float64)
    if pred.shape != (test.n_interactions,):
        raise RecfairError(BAD_SHAPE.format(n=test.n_interactions, shape=pred.shape))
    bad = ~np.isfinite(pred)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RecfairError(NOT_FINITE.format(pos=pos, value=pred[pos]))
    return pred - test.rating.astype(np.float64)


def rmse(predictions: np.ndarray, test) -> float:
    """``sqrt(mean_t (ŷ_t − r_t)²)`` over all test pairs (``nan`` for an empty test set)."""
    e = _errors(predictions, test)
    return float(np.sqrt(np.mean(e**2))) if e.size else float("nan")


def mae(predictions: np.ndarray, test) -> float:
    """``mean_t |ŷ_t − r_t|`` over all test pairs (``nan`` for an empty test set)."""
    e = _errors(predictions, test)
    return float(np.mean(np.abs(e))) if e.size else float("nan")


def per_user_errors(predictions: np.ndarray, test) -> pd.DataFrame:
    """Per-user RMSE and MAE over that user's test pairs.

    Returns
    -------
    pd.DataFrame
        Indexed by user index (name ``"user"``, ascending, only users with test
        pairs), columns ``user_rmse``, ``user_mae`` (float64) and ``n`` (int64).
    """
    e = _errors(predictions, test)
    n = np.bincount(test.user, minlength=test.n_users)
    sq = np.bincount(test.user, weights=e**2, minlength=test.n_users)
    ab = np.bincount(test.user, weights=np.abs(e), minlength=test.n_users)
    users = np.flatnonzero(n > 0)
    return pd.DataFrame(
        {
            "user_rmse": np.sqrt(sq[users] / n[users]),
            "user_mae": ab[users] / n[users],
            "n": n[users].astype(np.int64),
        },
        index=pd.Index(users.astype(np.int64), name="user"),
    )
