"""Choice models: what an active user consumes from a slate, and outside it.

All take the slate ``items (n, k)`` (``-1`` = empty slot), the oracle's
preferences of those users ``pref (n, n_items)`` and a numpy ``Generator``, and
return a boolean ``(n, k)`` mask of accepted slots:

* ``rank-decay`` (Mansoury et al. 2020, as reimplemented): every slot is accepted
  independently with ``P = exp(−decay·rank) × pref`` (rank 1 at the top);
* ``cascade`` (position-biased): the user reads top-down, accepts an item with
  probability ``pref`` and stops, or after a skip reads on with probability
  ``patience``;
* ``logit``: one multinomial-logit choice among the slate and "nothing", item
  weights the preference odds ``pref / (1 − pref)``, "nothing" weight ``outside``.

:func:`organic_choice` is consumption outside the list (users find items
elsewhere, in proportion to preference); :func:`activity_probabilities` turns
the data's activity distribution into each user's chance of being active in a
round.
"""

from __future__ import annotations

import numpy as np

from recfair.simulation.config import ChoiceConfig

__all__ = ["activity_probabilities", "choose", "organic_choice"]


def _slot_pref(items: np.ndarray, pref: np.ndarray) -> np.ndarray:
    """Preference of every slot (0 for empty slots)."""
    rows = np.arange(items.shape[0])[:, None]
    out = pref[rows, np.maximum(items, 0)].astype(np.float64)
    out[items < 0] = 0.0
    return out


def _rank_decay(p: np.ndarray, decay: float, rng: np.random.Generator) -> np.ndarray:
    ranks = np.arange(1, p.shape[1] + 1, dtype=np.float64)
    return rng.random(p.shape) < np.exp(-decay * ranks)[None, :] * p


def _cascade(p: np.ndarray, patience: float, rng: np.random.Generator) -> np.ndarray:
    n, k = p.shape
    accept = rng.random((n, k)) < p
    read_on = rng.random((n, k)) < patience
    out = np.zeros((n, k), dtype=bool)
    reading = np.ones(n, dtype=bool)
    for r in range(k):
        take = reading & accept[:, r]
        out[:, r] = take
        reading = reading & ~take & read_on[:, r]
    return out


def _logit(p: np.ndarray, outside: float, rng: np.random.Generator) -> np.ndarray:
    n, k = p.shape
    odds = np.clip(p, 0.0, 1 - 1e-6) / (1 - np.clip(p, 0.0, 1 - 1e-6))
    weights = np.concatenate([np.full((n, 1), outside), odds], axis=1)
    cum = np.cumsum(weights, axis=1)
    pick = (rng.random(n)[:, None] * cum[:, -1:] < cum).argmax(axis=1)  # 0 = nothing
    out = np.zeros((n, k), dtype=bool)
    chosen = pick > 0
    out[np.flatnonzero(chosen), pick[chosen] - 1] = True
    return out


def choose(config: ChoiceConfig, items: np.ndarray, pref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Accepted slots ``(n, k)`` of slates ``items`` for users with preference rows ``pref``."""
    p = _slot_pref(items, pref)
    if config.model == "rank-decay":
        out = _rank_decay(p, config.decay, rng)
    elif config.model == "cascade":
        out = _cascade(p, config.patience, rng)
    else:
        out = _logit(p, config.outside, rng)
    return out & (items >= 0)


def organic_choice(pref: np.ndarray, allowed: np.ndarray, seen_rows, rng: np.random.Generator) -> np.ndarray:
    """One item per row drawn ∝ preference among allowed, unseen items (``-1`` when none is left).

    ``seen_rows`` is a CSR matrix with one row per preference row.
    """
    w = pref * allowed[None, :]
    w = np.asarray(w, dtype=np.float64)
    seen = seen_rows.tocoo()
    w[seen.row, seen.col] = 0.0
    total = w.sum(axis=1)
    cum = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * total
    pick = (u[:, None] < cum).argmax(axis=1)
    return np.where(total > 0, pick, -1).astype(np.int64)


def activity_probabilities(counts: np.ndarray, active_share: float) -> np.ndarray:
    """P(active in a round) ∝ a user's interaction count, mean ``active_share`` (capped at 1).

    ``counts`` are the users' activity levels (their interactions in the data; a
    new user's level is the count of a user drawn from the data).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.size == 0 or c.sum() <= 0:
        return np.full(c.shape, active_share)
    p = c / c.mean() * active_share
    for _ in range(20):  # re-spread what the cap at 1 removes, keeping the mean
        capped = p >= 1
        p = np.minimum(p, 1.0)
        short = active_share * len(p) - p.sum()
        free = ~capped
        if short <= 1e-9 or not free.any():
            break
        p[free] += short * c[free] / c[free].sum()
    return np.minimum(p, 1.0)
