"""The ground truth of a simulation: every user's preference for every item.

A simulator needs to know what a user would do with an item nobody ever showed
them.  That is a **modelling assumption**, made explicit here:

* ``kind="mf"`` — a well-regularised matrix factorisation (ridge ALS on the
  binary interaction matrix, unobserved pairs read as weak negatives) fitted on
  *every* interaction of the data set;
* ``kind="planted"`` — the affinities the synthetic generator planted
  (:func:`recfair.data.synthetic.planted_affinity`), exact by construction.

Either score ``s(u, j)`` is Platt-calibrated into a preference
``pref(u, j) = σ(a·s + b)`` against the observed interactions (label 1) and
``negatives`` unobserved pairs per observed one (label 0), so with
``negatives=1`` a preference of 0.5 means "as likely consumed as not", and the
preferences of observed pairs average what the data shows.  :attr:`Oracle.fit`
reports how well the oracle ranks interactions it never saw (AUC on a held-out
share) and its calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recfair.errors import RecfairError
from recfair.simulation.config import OracleConfig

__all__ = ["Oracle", "als_scores", "calibrate", "fit_oracle", "pair_auc"]

PLANTED_NEEDS_SYNTHETIC = (
    "oracle kind 'planted' needs the synthetic generator's arguments (oracle.synthetic = {{n_users, n_items, seed…}}) "
    "matching the data set ({n_users} users, {n_items} items); got {got}."
)
#: Dense score matrices above this many cells are refused (the oracle is a dense matrix).
MAX_CELLS = 200_000_000
TOO_LARGE = "the oracle holds a dense {n_users}×{n_items} matrix; above {max} cells it does not fit comfortably."


@dataclass
class Oracle:
    """Preferences ``pref`` ``(n_users, n_items)`` float32 in (0, 1) plus a report of the fit."""

    pref: np.ndarray
    fit: dict[str, Any] = field(default_factory=dict)

    def top(self, users: np.ndarray, k: int, allowed: np.ndarray | None = None,
            seen=None) -> np.ndarray:
        """Each user's ``k`` most preferred items (allowed, unseen): the ideal recommender's lists."""
        from recfair.recommendations import rank_scores

        return rank_scores(users, self.pref[users], k, seen=seen, allowed=allowed).items


def als_scores(matrix, embedding_size: int, reg: float, iterations: int, seed: int) -> np.ndarray:
    """``U·Vᵀ`` of a ridge ALS on the dense binary matrix (every cell weight 1): ``(n_users, n_items)``."""
    y = np.asarray(matrix.todense(), dtype=np.float32)
    rng = np.random.default_rng(seed)
    v = (0.1 * rng.standard_normal((y.shape[1], embedding_size))).astype(np.float32)
    eye = reg * np.eye(embedding_size, dtype=np.float32)
    u = np.zeros((y.shape[0], embedding_size), np.float32)
    for _ in range(iterations):
        u = np.linalg.solve(v.T @ v + eye, (y @ v).T).T
        v = np.linalg.solve(u.T @ u + eye, (y.T @ u).T).T
    return (u @ v.T).astype(np.float32)


def pair_auc(scores: np.ndarray, pos_users: np.ndarray, pos_items: np.ndarray, observed, rng) -> float:
    """AUC of ``scores`` for the given positive pairs against as many random unobserved pairs."""
    n = len(pos_users)
    if n == 0:
        return float("nan")
    nu, ni = scores.shape
    neg_u, neg_i = rng.integers(0, nu, 2 * n), rng.integers(0, ni, 2 * n)
    keep = np.asarray(observed[neg_u, neg_i]).ravel() == 0
    neg = scores[neg_u[keep][:n], neg_i[keep][:n]]
    pos = scores[pos_users, pos_items]
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]), kind="stable"), kind="stable") + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def calibrate(scores: np.ndarray, matrix, negatives: float, seed: int) -> tuple[float, float, dict[str, float]]:
    """Platt scaling ``σ(a·s + b)`` of ``scores`` against observed (1) vs sampled unobserved (0) pairs.

    Returns ``(a, b, report)``; the fit is a few Newton steps of a two-parameter
    logistic regression (deterministic given ``seed``).
    """
    coo = matrix.tocoo()
    rng = np.random.default_rng(seed)
    n_neg = max(1, int(round(negatives * coo.nnz)))
    nu, ni = scores.shape
    cand_u, cand_i = rng.integers(0, nu, 2 * n_neg), rng.integers(0, ni, 2 * n_neg)
    keep = np.asarray(matrix[cand_u, cand_i]).ravel() == 0
    neg_u, neg_i = cand_u[keep][:n_neg], cand_i[keep][:n_neg]
    s = np.concatenate([scores[coo.row, coo.col], scores[neg_u, neg_i]]).astype(np.float64)
    y = np.concatenate([np.ones(coo.nnz), np.zeros(len(neg_u))])
    mu, sd = s.mean(), s.std() + 1e-12
    x = np.stack([(s - mu) / sd, np.ones_like(s)], 1)
    w = np.zeros(2)
    for _ in range(25):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    a, b = w[0] / sd, w[1] - w[0] * mu / sd
    p = 1 / (1 + np.exp(-(a * s + b)))
    eps = 1e-12
    report = {
        "calibration_logloss": float(-(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).mean()),
        "mean_pref_observed": float(p[y == 1].mean()),
        "mean_pref_unobserved": float(p[y == 0].mean()) if (y == 0).any() else float("nan"),
    }
    return float(a), float(b), report


def _raw_scores(dataset, config: OracleConfig, matrix, seed: int) -> np.ndarray:
    if config.kind == "planted":
        from recfair.data.synthetic import planted_affinity

        syn = dict(config.synthetic)
        if syn.get("n_users") != dataset.n_users or syn.get("n_items") != dataset.n_items:
            raise RecfairError(PLANTED_NEEDS_SYNTHETIC.format(n_users=dataset.n_users, n_items=dataset.n_items, got=syn))
        return planted_affinity(**syn)
    return als_scores(matrix, config.embedding_size, config.reg, config.iterations, seed)


def fit_oracle(dataset, config: OracleConfig | None = None, *, seed: int = 0) -> Oracle:
    """Fit the ground truth on every interaction of ``dataset`` (see the module docs); report its fit.

    The report (:attr:`Oracle.fit`) holds ``auc_heldout`` (an oracle fitted
    without a random ``holdout`` share of the interactions, scored on them),
    ``auc_train``, the calibration's ``a``, ``b``, log-loss and the mean
    preference of observed and unobserved pairs.
    """
    config = config or OracleConfig()
    if dataset.n_users * dataset.n_items > MAX_CELLS:
        raise RecfairError(TOO_LARGE.format(n_users=dataset.n_users, n_items=dataset.n_items, max=MAX_CELLS))
    matrix = dataset.matrix
    rng = np.random.default_rng(seed)
    fit: dict[str, Any] = {"kind": config.kind}
    if config.holdout > 0 and config.kind == "mf":
        coo = matrix.tocoo()
        held = rng.random(coo.nnz) < config.holdout
        part = dataset.with_interactions(coo.row[~held], coo.col[~held])
        scores = _raw_scores(dataset, config, part.matrix, seed)
        fit["auc_heldout"] = pair_auc(scores, coo.row[held], coo.col[held], matrix, rng)
    scores = _raw_scores(dataset, config, matrix, seed)
    coo = matrix.tocoo()
    fit["auc_train"] = pair_auc(scores, coo.row, coo.col, matrix, np.random.default_rng(seed + 1))
    a, b, report = calibrate(scores, matrix, config.negatives, seed)
    fit.update({"a": a, "b": b, **report})
    pref = 1.0 / (1.0 + np.exp(-(a * scores.astype(np.float64) + b)))
    fit["mean_pref"] = float(pref.mean())
    return Oracle(pref.astype(np.float32), fit)
