"""User-oriented group fairness re-ranking (UGF, Li et al. 2021).

Each user ``u`` picks ``k`` of its ``N`` candidates (``x_uj ∈ {0, 1}``) to maximise the
total candidate score ``Σ_u Σ_j s_uj x_uj`` subject to

    | mean_{u ∈ A} q_u(x) − mean_{u ∈ D} q_u(x) | ≤ ε,    q_u(x) = (1/k) Σ_j r_uj x_uj

where ``A`` / ``D`` are the advantaged / disadvantaged user groups (default: the top 5%
of users by training interactions vs the rest, as in the paper) and ``r_uj ∈ [0, 1]``
is an *estimated* relevance, so ``q_u`` is the list's expected precision@k under that
estimate.  The paper constrains a metric computed from held-out labels; recfair never
reads test data at re-rank time, so ``r`` comes from the scores alone:

* ``quantile`` (default): the score's mid-rank percentile among all candidate scores
  being re-ranked (comparable across users, monotone in the score);
* ``sigmoid``: ``σ(score)`` (for models whose scores are logits);
* ``score``: the raw score;
* ``calibrated``: the hit rate, on a held-out *calibration* set (e.g. the split's
  validation part, never the test part), of candidates at the same rank for users of
  the same group — a non-increasing (isotonic) curve per group.

Score-based estimates cannot see how many relevant items a user will have: on ML-100K
the most active users, having already seen the popular items, get *lower* candidate
scores although their real precision is higher, so ``quantile`` reverses the sign of
the real activity gap.  ``calibrated`` gets the direction right; measure both.

``solver="milp"`` solves the 0-1 program exactly with ``scipy.optimize.milp`` (HiGHS);
``solver="greedy"`` starts from every user's top-k and repeatedly makes the cheapest
swap (score lost per unit of ``q`` moved) in the group that is ahead until the gap
is within ε.  After ``rerank`` the attribute ``report_`` holds the gap before/after,
group sizes and the score lost.
"""

from __future__ import annotations

import heapq
import logging

import numpy as np

from typing import Any, Literal

from pydantic import Field

from recfair.errors import RecfairError
from recfair.mitigation._groups import binary_labels
from recfair.mitigation.inprocess import UserGroups
from recfair.mitigation.rerank import ReRanker, empty_lists
from recfair.models.config import ComponentConfig
from recfair.recommendations import PAD

__all__ = ["UGFConfig", "UGFReRanker", "calibrated_relevance", "estimated_relevance"]

log = logging.getLogger(__name__)

RELEVANCE_CHOICES = ("quantile", "sigmoid", "score", "calibrated")
NEEDS_CALIBRATION = (
    "relevance='calibrated' needs held-out calibration interactions (e.g. the split's validation part): "
    "UGFReRanker(relevance='calibrated', calibration=split.valid). Train with a validation part (--valid-size 0.1)."
)
INFEASIBLE = (
    "UGF cannot meet epsilon={epsilon}: with these candidates the smallest reachable gap "
    "in estimated precision@{k} between '{a}' and '{d}' is {best:.6f}. Raise --epsilon or use more candidates."
)
#: Margin (in the scaled gap row's units) kept inside ε for the solver's feasibility
#: tolerance, so the rounded 0-1 solution satisfies the constraint exactly in float64;
#: widened ×100 and re-solved (twice at most) if a solution still falls outside.
SOLVER_MARGIN = 1e-6


def calibrated_relevance(users: np.ndarray, items: np.ndarray, codes: np.ndarray, calibration) -> np.ndarray:
    """Per-group, per-rank hit rates of the candidates on ``calibration`` (isotonic, non-increasing in rank).

    ``items`` are score-sorted candidates of ``users``; ``codes`` their group codes
    (0/1, negative = unknown: those get the curve pooled over everybody).  Every user
    of a group informs its curve (a user with no calibration interaction has no hits).
    """
    from sklearn.isotonic import IsotonicRegression

    cal = calibration.matrix
    if cal.shape[0] <= int(users.max(initial=0)) or cal.shape[1] <= int(items.max(initial=0)):
        raise RecfairError("the calibration set must share the candidates' index space")
    valid = items != PAD
    hits = np.zeros(items.shape, dtype=np.float64)
    rows, cols = np.nonzero(valid)
    hits[rows, cols] = np.asarray(cal[users[rows], items[rows, cols]]).ravel() > 0
    pos = np.arange(items.shape[1], dtype=np.float64)

    def curve(mask):
        m = mask[:, None] & valid
        n = m.sum(0)
        if not n.any():
            return np.zeros(items.shape[1])
        rate = np.where(n > 0, (hits * m).sum(0) / np.maximum(n, 1), 0.0)
        iso = IsotonicRegression(increasing=False, y_min=0.0, y_max=1.0)
        return iso.fit(pos[n > 0], rate[n > 0], sample_weight=n[n > 0]).predict(pos)

    out = np.tile(curve(np.ones(len(users), dtype=bool)), (len(users), 1))
    for g in (0, 1):
        sel = codes == g
        if sel.any():
            out[sel] = curve(sel)
    return np.where(valid, out, 0.0)


def estimated_relevance(items: np.ndarray, scores: np.ndarray, how: str = "quantile") -> np.ndarray:
    """``r_uj ∈ [0, 1]`` (float64, 0 at padding) from candidate scores; no test data involved."""
    if how == "calibrated":
        raise RecfairError(NEEDS_CALIBRATION)
    if how not in RELEVANCE_CHOICES:
        raise RecfairError(f"Unknown relevance estimate '{how}'. Choose one of: {', '.join(RELEVANCE_CHOICES)}.")
    valid = items != PAD
    s = scores.astype(np.float64)
    out = np.zeros(s.shape)
    if how == "score":
        out[valid] = s[valid]
    elif how == "sigmoid":
        out[valid] = 1.0 / (1.0 + np.exp(-s[valid]))
    else:
        from scipy.stats import rankdata

        v = s[valid]
        out[valid] = (rankdata(v, method="average") - 0.5) / max(v.size, 1)
    return out


class UGFConfig(ComponentConfig):
    """Hyper-parameters of :class:`UGFReRanker`."""

    epsilon: float = Field(0.01, ge=0, description="largest allowed gap of estimated precision@k between the groups")
    groups: UserGroups = "activity"
    relevance: Literal["quantile", "sigmoid", "score", "calibrated"] = Field(
        "quantile", description="how relevance is estimated from scores (calibrated needs calibration=)"
    )
    solver: Literal["milp", "greedy"] = Field("milp", description="exact 0-1 program or greedy swaps")
    time_limit: float | None = Field(None, gt=0, description="seconds allowed to the MILP solver (None = no limit)")


class UGFReRanker(ReRanker):
    """UGF re-ranking: maximise score subject to a bounded user-group quality gap.

    Parameters
    ----------
    epsilon:
        Largest allowed |gap| of mean estimated precision@k between the two groups.
    groups:
        Binary user group spec (audit grammar); default ``activity`` (top 5% by training interactions vs the rest).
        Group code 0 is ``A`` (``top5%`` for activity), code 1 is ``D``.
    relevance:
        ``quantile`` | ``sigmoid`` | ``score`` (see the module docs).
    solver:
        ``milp`` (exact) | ``greedy`` (fast, usually within ε but not guaranteed optimal).
    time_limit:
        Seconds allowed to the MILP solver (``None`` = no limit).
    calibration:
        Held-out interactions (a Dataset in the same index space, e.g. the split's
        validation part) for ``relevance="calibrated"``.  Never pass the test part.

    Users whose group is unknown (e.g. no training interactions) keep their top-k.

    Examples
    --------
    >>> ugf = UGFReRanker(epsilon=0.01)                        # doctest: +SKIP
    >>> fair = ugf.rerank(run.recommendations(), run.split.train, k=10)  # doctest: +SKIP
    >>> ugf.report_["gap_after"] <= 0.01                      # doctest: +SKIP
    True
    """

    Config = UGFConfig
    positional = ("epsilon",)

    def __init__(self, *args: Any, calibration: Any = None, config: Any = None, **params: Any) -> None:
        super().__init__(*args, config=config, **params)
        self.calibration = calibration

    # ---------------------------------------------------------------- helpers
    def _coefficients(self, users, dataset, k) -> tuple[np.ndarray, list[str]]:
        """Per user: +1/(k|A|), −1/(k|D|) or 0, so gap = Σ_u c_u Σ_j r_uj x_uj."""
        codes, names = binary_labels(dataset, self.groups, owner=type(self).__name__)
        g = codes[np.asarray(users, dtype=np.int64)]
        n_a, n_d = int((g == 0).sum()), int((g == 1).sum())
        if n_a == 0 or n_d == 0:
            raise RecfairError(
                f"UGF needs users of both groups '{names[0]}' and '{names[1]}' among the candidates; "
                f"got {n_a} and {n_d}."
            )
        c = np.where(g == 0, 1.0 / (k * n_a), np.where(g == 1, -1.0 / (k * n_d), 0.0))
        return c, names

    def constrained_gap(self, candidates, reranked, dataset, k: int) -> float:
        """The constrained quantity for ``reranked`` lists (relevance estimated from ``candidates``)."""
        from recfair.mitigation.rerank import sorted_candidates

        items, scores = sorted_candidates(candidates, dataset)
        c, _ = self._coefficients(candidates.users, dataset, k)
        r = self._relevance(candidates.users, items, scores, c)
        pos = np.asarray(reranked.select(candidates.users).items)
        gap = 0.0
        for row in range(len(items)):
            chosen = np.isin(items[row], pos[row][pos[row] != PAD]) & (items[row] != PAD)
            gap += c[row] * r[row][chosen].sum()
        return float(gap)

    def _relevance(self, users, items, scores, c) -> np.ndarray:
        if self.relevance != "calibrated":
            return estimated_relevance(items, scores, self.relevance)
        if self.calibration is None:
            raise RecfairError(NEEDS_CALIBRATION)
        codes = np.where(c > 0, 0, np.where(c < 0, 1, -1))
        return calibrated_relevance(np.asarray(users, dtype=np.int64), items, codes, self.calibration)

    # ------------------------------------------------------------------ main
    def _rerank(self, users, items, scores, dataset, k):
        eps = float(self.config.epsilon)  # re-validated: attributes may have been edited
        c, names = self._coefficients(users, dataset, k)
        r = self._relevance(users, items, scores, c)
        valid = items != PAD
        n_pick = np.minimum(valid.sum(1), k)
        s = np.where(valid, scores.astype(np.float64), 0.0)
        # x starts as every user's top-k (candidates are sorted by score)
        x = np.arange(items.shape[1])[None, :] < n_pick[:, None]
        gap0 = float((c[:, None] * r * x).sum())
        # reachable range of the gap: each user's q between its bottom-m and top-m relevance sums
        r_sorted = -np.sort(-np.where(valid, r, -np.inf), axis=1)
        cols = np.arange(items.shape[1])[None, :]
        top_sum = np.where(cols < n_pick[:, None], r_sorted, 0.0).sum(1)
        n_valid = valid.sum(1)[:, None]
        bottom = (cols >= n_valid - n_pick[:, None]) & (cols < n_valid)
        bot_sum = np.where(bottom, r_sorted, 0.0).sum(1)
        hi = np.where(c > 0, c * top_sum, c * bot_sum).sum()
        lo = np.where(c > 0, c * bot_sum, c * top_sum).sum()
        if lo > eps or hi < -eps:
            best = lo if lo > eps else -hi
            raise RecfairError(INFEASIBLE.format(epsilon=eps, k=k, a=names[0], d=names[1], best=best))
        if abs(gap0) > eps:
            if self.solver == "milp":
                x = self._solve_milp(c, r, s, valid, n_pick, eps)
            else:
                x = self._solve_greedy(c, r, s, valid, x, eps)
        gap = float((c[:, None] * r * x).sum())
        self.report_ = {
            "groups": names,
            "n_" + names[0]: int((c > 0).sum()),
            "n_" + names[1]: int((c < 0).sum()),
            "gap_before": gap0,
            "gap_after": gap,
            "score_lost": float((s * (np.arange(items.shape[1])[None, :] < n_pick[:, None])).sum() - (s * x).sum()),
            "solver": self.solver,
        }
        if abs(gap) > eps:
            log.warning("UGF %s solver ended with gap %.6g > epsilon %.6g", self.solver, gap, eps)
        # order the chosen items by score (candidates are sorted, so keep their order)
        out_items, out_scores = empty_lists(len(users), k)
        for row in range(len(users)):
            chosen = np.flatnonzero(x[row])
            out_items[row, : chosen.size] = items[row, chosen]
            out_scores[row, : chosen.size] = scores[row, chosen]
        return out_items, out_scores

    def _solve_milp(self, c, r, s, valid, n_pick, eps) -> np.ndarray:
        import scipy.sparse as sp
        from scipy.optimize import Bounds, LinearConstraint, milp

        n, n_cand = valid.shape
        rows, cols = np.nonzero(valid)
        nv = rows.size
        card = sp.csr_matrix((np.ones(nv), (rows, np.arange(nv))), shape=(n, nv))
        coef = c[rows] * r[rows, cols]
        # scale the gap row to unit coefficients so the solver's absolute feasibility
        # tolerance (1e-7) is negligible in gap units
        scale = 1.0 / max(float(np.abs(coef).max()), 1e-300)
        gap_row = sp.csr_matrix((coef * scale, (np.zeros(nv, dtype=np.int64), np.arange(nv))), shape=(1, nv))
        options = {"disp": False, "presolve": False}  # presolve finds nothing here and takes minutes
        if self.time_limit is not None:
            options["time_limit"] = float(self.time_limit)
        x = np.zeros((n, n_cand), dtype=bool)
        for attempt in range(3):
            margin = min(SOLVER_MARGIN * 100**attempt, eps * scale / 2)
            constraints = [
                LinearConstraint(card, n_pick.astype(np.float64), n_pick.astype(np.float64)),
                LinearConstraint(gap_row, -eps * scale + margin, eps * scale - margin),
            ]
            res = milp(-s[rows, cols], constraints=constraints, integrality=np.ones(nv), bounds=Bounds(0, 1),
                       options=options)
            if res.x is None:
                raise RecfairError(f"UGF MILP solver found no solution: {res.message}")
            x[:] = False
            x[rows, cols] = np.round(res.x) > 0.5
            if abs(float((c[:, None] * r * x).sum())) <= eps:
                break
        return x

    def _solve_greedy(self, c, r, s, valid, x, eps) -> np.ndarray:
        """Walk selected items down each user's list in the group that is ahead.

        A move swaps a selected position ``p`` for the unselected ``p + 1``: the
        lowest selected position that can move does; its cost is the score lost,
        its gain the change of the gap ``|c_u|·(r_p − r_{p+1})``.  Cheapest cost
        per gain first, until the gap is within ε; a swap that would overshoot
        past ``−ε`` is skipped (and ends that user's chain).
        """
        x = x.copy()
        gap = float((c[:, None] * r * x).sum())
        sign = 1.0 if gap > 0 else -1.0
        movers = np.flatnonzero(np.sign(c) == sign)  # the group that is ahead gives up quality
        n_valid = valid.sum(1)

        def next_move(u):
            sel = np.flatnonzero(x[u])
            for p in sel[::-1]:
                if p + 1 < n_valid[u] and not x[u, p + 1]:
                    gain = abs(c[u]) * (r[u, p] - r[u, p + 1])
                    cost = s[u, p] - s[u, p + 1]
                    return (cost / gain if gain > 0 else (0.0 if cost <= 0 else np.inf)), int(p)
            return None

        heap = []
        for u in movers:
            mv = next_move(u)
            if mv is not None:
                heapq.heappush(heap, (mv[0], int(u), mv[1]))
        while sign * gap > eps and heap:
            _, u, p = heapq.heappop(heap)
            delta = abs(c[u]) * (r[u, p] - r[u, p + 1])
            if sign * gap - delta < -eps:
                continue  # this swap would overshoot past −ε; a cheaper-in-gain one may still fit
            x[u, p], x[u, p + 1] = False, True
            gap -= sign * delta
            mv = next_move(u)
            if mv is not None:
                heapq.heappush(heap, (mv[0], u, mv[1]))
        return x
