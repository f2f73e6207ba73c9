"""Post-processing mitigation: re-rank each user's N candidates into a top-k list.

Every re-ranker implements ``rerank(candidates, dataset, k) -> Recommendations`` where
``candidates`` are a model's top-N lists (best first, ``PAD``-padded) and ``dataset`` is
the *training* set (user groups, item popularity).  Nothing here reads test data.
The output keeps each chosen item's original score; lists shorter than ``k`` (too few
candidates) are padded.

Item-side re-rankers (this module):

* :class:`FairPrefixReRanker` — FA*IR-style (Zehlike et al. 2017): every prefix of
  length ``i`` holds at least ``m(i)`` protected items, ``m(i)`` the ``α``-quantile of
  Binomial(``i``, ``p``) (no multiple-testing adjustment); protected = the ``tail`` of
  the ``popularity`` item grouping.
* :class:`PrefixExposureReRanker` — deterministic prefix constraints for target
  item-group shares (Geyik et al. 2019, DetGreedy): in every prefix of length ``i`` a
  group with target share ``p_g`` has at least ``⌊p_g·i⌋`` items and, while others wait,
  at most ``⌈p_g·i⌉``.
* :class:`CalibratedPopularityReRanker` — Abdollahpouri et al. (2021): greedily add the
  item maximising ``(1 − λ)·rel − λ·JS(P_u, Q(L ∪ {j}))`` over head/mid/tail shares.

The user-side UGF re-ranker lives in :mod:`recfair.mitigation.ugf`.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import Field

from recfair.errors import RecfairError, check_positive_int
from recfair.models.config import ComponentConfig, Configurable, Fraction
from recfair.recommendations import PAD, Recommendations

__all__ = [
    "CalibratedPopularityConfig",
    "CalibratedPopularityReRanker",
    "FairPrefixConfig",
    "FairPrefixReRanker",
    "PrefixExposureConfig",
    "PrefixExposureReRanker",
    "ReRanker",
    "item_group_codes",
]

BAD_TARGET = "Unknown item group '{group}' in the target of {owner}. Groups of '{item_groups}': {choices}."
BAD_ITEM_GROUPS = "Unknown item grouping '{item_groups}'. Choose 'popularity' (head/tail) or 'tiers' (head/mid/tail)."
BAD_MASK = "item_mask of {owner} must be a boolean array of shape ({n_items},); got shape {shape}."
TARGET_SUM = "The target shares of {owner} must sum to at most 1; got {total:.3f}."


def item_group_codes(train, item_groups: str = "popularity") -> tuple[np.ndarray, list[str]]:
    """Item group codes from training popularity (docs/conventions.md names).

    ``popularity``: ``head`` (the items holding 80% of interactions) / ``tail``;
    ``tiers``: ``head`` / ``mid`` / ``tail`` (20% / 60% / 20% of interactions, Abdollahpouri 2021).
    """
    from recfair.metrics.beyond import popularity_tiers, short_head

    if item_groups == "popularity":
        return np.where(short_head(train), 0, 1).astype(np.int64), ["head", "tail"]
    if item_groups == "tiers":
        tiers = popularity_tiers(train)
        names = ["head", "mid", "tail"]
        codes = np.select([tiers == "head", tiers == "mid"], [0, 1], default=2).astype(np.int64)
        return codes, names
    raise RecfairError(BAD_ITEM_GROUPS.format(item_groups=item_groups))


Share = Annotated[float, Field(ge=0, le=1)]


class FairPrefixConfig(ComponentConfig):
    """Hyper-parameters of :class:`FairPrefixReRanker`."""

    p: Fraction = Field(0.5, description="target minimum share of protected (tail) items")
    alpha: float = Field(0.1, gt=0, lt=1, description="significance level of the prefix test")
    item_groups: Literal["popularity"] = Field(
        "popularity", description="item grouping whose tail is protected (or pass item_mask=)"
    )


class PrefixExposureConfig(ComponentConfig):
    """Hyper-parameters of :class:`PrefixExposureReRanker`."""

    target: Union[Share, dict[str, Share]] = Field(
        0.5, description="share of the tail group, or {group: share} (shares sum to at most 1)"
    )
    item_groups: Literal["popularity", "tiers"] = Field(
        "popularity", description="item grouping: popularity (head/tail) or tiers (head/mid/tail)"
    )


class CalibratedPopularityConfig(ComponentConfig):
    """Hyper-parameters of :class:`CalibratedPopularityReRanker`."""

    lambda_: Fraction = Field(0.5, description="λ: weight of the JS-divergence term (0 = score order)")


class ReRanker(Configurable):
    """Base class: validates input, orders candidates, re-ranks user by user."""

    def rerank(self, candidates: Recommendations, dataset, k: int) -> Recommendations:
        """Choose and order ``k`` of each user's candidates (see the class docs)."""
        k = check_positive_int(k, "k", f"{type(self).__name__}.rerank")
        items, scores = sorted_candidates(candidates, dataset)
        out_items, out_scores = self._rerank(candidates.users, items, scores, dataset, k)
        return Recommendations(candidates.users, out_items, out_scores)

    def _rerank(self, users, items, scores, dataset, k):  # pragma: no cover - interface
        raise NotImplementedError


def sorted_candidates(candidates: Recommendations, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Candidate items sorted by score (desc, stable), padding and nan scores moved to the end."""
    items = candidates.items
    if items.size and (items.max() >= dataset.n_items or items.min() < PAD):
        raise RecfairError(f"candidates hold item indices outside the dataset's {dataset.n_items} items")
    if len(candidates) and (candidates.users.max() >= dataset.n_users or candidates.users.min() < 0):
        raise RecfairError(f"candidates hold user indices outside the dataset's {dataset.n_users} users")
    valid = (items != PAD) & np.isfinite(candidates.scores)
    key = np.where(valid, candidates.scores.astype(np.float64), -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")
    items = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(items, order, 1), PAD)
    scores = np.where(items != PAD, np.take_along_axis(candidates.scores, order, 1), np.nan)
    return items.astype(np.int32), scores.astype(np.float32)


def empty_lists(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, k)`` items filled with padding and scores filled with ``nan``, to be written into."""
    return np.full((n, k), PAD, dtype=np.int32), np.full((n, k), np.nan, dtype=np.float32)


def _merge_by_quota(row_items, row_scores, codes, n_groups, k, pick_group) -> tuple[list[int], list[float]]:
    """Build one list: at each position ``pick_group(counts, heads, i)`` names the group to draw from.

    ``heads`` maps group → score of its best remaining item (``None`` when exhausted).
    """
    valid = row_items != PAD
    its, scs, gs = row_items[valid], row_scores[valid], codes[row_items[valid]]
    queues = [list(np.flatnonzero(gs == g)) for g in range(n_groups)]
    ptr = [0] * n_groups
    counts = np.zeros(n_groups, dtype=np.int64)
    out_i, out_s = [], []
    for i in range(1, min(k, its.size) + 1):
        heads = [float(scs[q[p]]) if p < len(q) else None for q, p in zip(queues, ptr)]
        g = pick_group(counts, heads, i)
        pos = queues[g][ptr[g]]
        ptr[g] += 1
        counts[g] += 1
        out_i.append(int(its[pos]))
        out_s.append(float(scs[pos]))
    return out_i, out_s


def _best(heads: list, allowed) -> int | None:
    best, best_s = None, -np.inf
    for g in allowed:
        if heads[g] is not None and (best is None or heads[g] > best_s):
            best, best_s = g, heads[g]
    return best


@functools.lru_cache(maxsize=256)
def _binomial_minimums(p: float, alpha: float, k: int) -> np.ndarray:
    """``F⁻¹(α; i, p)`` for ``i = 1..k``, cached: a server re-ranks one list per request."""
    from scipy.stats import binom

    return np.nan_to_num(binom.ppf(alpha, np.arange(1, k + 1), p), nan=0.0).astype(np.int64)


class FairPrefixReRanker(ReRanker):
    """FA*IR-style re-ranking: a minimum number of protected items in every prefix.

    Parameters
    ----------
    p:
        Target minimum share of protected items.
    alpha:
        Significance level: prefix ``i`` must hold ``m(i) = F⁻¹(α; i, p)`` protected
        items (``F`` the Binomial(i, p) CDF), i.e. as many as a fair coin-flip ranking
        would reach with probability ``1 − α``.
    item_groups:
        ``"popularity"``: the protected items are its ``tail`` (outside the items
        holding 80% of training interactions).
    item_mask:
        A boolean array over items (data, not a hyper-parameter): when given, the
        protected items are those marked ``True`` instead.

    When a user's candidates run out of protected items, the rest of the list is
    filled by score (the shortfall is counted in ``shortfall_``).

    Examples
    --------
    >>> recs = FairPrefixReRanker(p=0.5).rerank(candidates, train, k=10)  # doctest: +SKIP
    """

    Config = FairPrefixConfig

    def __init__(self, *args: Any, item_mask: Any = None, config: Any = None, **params: Any) -> None:
        super().__init__(*args, config=config, **params)
        self.item_mask = item_mask

    def minimum_counts(self, k: int) -> np.ndarray:
        """``m(i)`` for ``i = 1..k`` (int64)."""
        cfg = self.config  # re-validated: attributes may have been edited
        return _binomial_minimums(float(cfg.p), float(cfg.alpha), int(k)).copy()

    def _codes(self, dataset) -> np.ndarray:
        if self.item_mask is None:
            return item_group_codes(dataset, self.item_groups)[0]  # tail = 1 = protected
        mask = np.asarray(self.item_mask, dtype=bool)
        if mask.shape != (dataset.n_items,):
            raise RecfairError(BAD_MASK.format(owner=type(self).__name__, n_items=dataset.n_items, shape=mask.shape))
        return mask.astype(np.int64)

    def _rerank(self, users, items, scores, dataset, k):
        m = self.minimum_counts(k)
        codes = self._codes(dataset)
        out_items, out_scores = empty_lists(len(users), k)
        self.shortfall_ = 0

        def pick(counts, heads, i):
            if counts[1] < m[i - 1] and heads[1] is not None:
                return 1
            if counts[1] < m[i - 1]:
                self.shortfall_ += 1
            return _best(heads, (0, 1))

        for r in range(len(users)):
            its, scs = _merge_by_quota(items[r], scores[r], codes, 2, k, pick)
            out_items[r, : len(its)], out_scores[r, : len(scs)] = its, scs
        return out_items, out_scores


class PrefixExposureReRanker(ReRanker):
    """Deterministic prefix constraints for target item-group shares (DetGreedy).

    Parameters
    ----------
    target:
        ``{group: share}`` (shares sum to at most 1), or a float = the share of the
        ``tail`` group.  Groups without a target are unconstrained.
    item_groups:
        ``"popularity"`` (head / tail) or ``"tiers"`` (head / mid / tail).

    At position ``i``: if some group is below its minimum ``⌊p_g·i⌋`` (and still has
    candidates) the best next item among such groups is taken; otherwise the best
    next item among groups below their maximum ``⌈p_g·i⌉`` (unconstrained groups
    always qualify); otherwise the best remaining item.  The same input always gives
    the same list (ties by candidate order).
    """

    Config = PrefixExposureConfig
    positional = ("target",)

    def _targets(self, names: list[str]) -> np.ndarray:
        owner = type(self).__name__
        tgt = {"tail": self.target} if isinstance(self.target, (int, float)) else dict(self.target)
        shares = np.full(len(names), np.nan)
        for g, v in tgt.items():
            if g not in names:
                raise RecfairError(
                    BAD_TARGET.format(group=g, owner=owner, item_groups=self.item_groups, choices=", ".join(names))
                )
            shares[names.index(g)] = float(v)
        if np.nansum(shares) > 1 + 1e-9:
            raise RecfairError(TARGET_SUM.format(owner=owner, total=np.nansum(shares)))
        return shares

    def _rerank(self, users, items, scores, dataset, k):
        codes, names = item_group_codes(dataset, self.config.item_groups)
        shares = self._targets(names)
        constrained = np.flatnonzero(~np.isnan(shares))
        free = np.flatnonzero(np.isnan(shares))
        out_items, out_scores = empty_lists(len(users), k)

        def pick(counts, heads, i):
            low = [g for g in constrained if counts[g] < np.floor(shares[g] * i + 1e-9) and heads[g] is not None]
            if low:
                return _best(heads, low)
            ok = [g for g in constrained if counts[g] < np.ceil(shares[g] * i - 1e-9)] + list(free)
            g = _best(heads, ok)
            return g if g is not None else _best(heads, range(len(names)))

        for r in range(len(users)):
            its, scs = _merge_by_quota(items[r], scores[r], codes, len(names), k, pick)
            out_items[r, : len(its)], out_scores[r, : len(scs)] = its, scs
        return out_items, out_scores


class CalibratedPopularityReRanker(ReRanker):
    """Calibrated popularity re-ranking (Abdollahpouri et al. 2021).

    Greedily builds each list: at step ``t`` add the candidate ``j`` maximising
    ``(1 − λ)·rel_j − λ·JS(P_u, Q(L ∪ {j}))`` where ``rel`` is the candidate score
    min-max scaled to [0, 1] within the user's candidates, ``P_u`` the head/mid/tail
    shares of the user's training items, ``Q`` those of the list, and JS the
    Jensen–Shannon divergence (log base 2).  ``λ = 0`` keeps the score order.
    Users with no training items keep their score order.
    """

    Config = CalibratedPopularityConfig
    positional = ("lambda_",)

    def _rerank(self, users, items, scores, dataset, k):
        from recfair.metrics.beyond import js_divergence

        lam = float(self.config.lambda_)
        codes, _ = item_group_codes(dataset, "tiers")
        n, n_cand = items.shape
        valid = items != PAD
        s = np.where(valid, scores.astype(np.float64), np.nan)
        lo, hi = np.nanmin(np.where(valid, s, np.inf), 1, keepdims=True), np.nanmax(np.where(valid, s, -np.inf), 1, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        rel = np.where(valid, (s - lo) / span, 0.0)
        onehot = np.eye(3)[codes]
        prof = np.asarray(dataset.matrix[users] @ onehot, dtype=np.float64)
        tot = prof.sum(1, keepdims=True)
        has_prof = tot[:, 0] > 0
        p = np.where(tot > 0, prof / np.maximum(tot, 1), 1.0 / 3)
        cand_oh = onehot[np.where(valid, items, 0)]  # (n, N, 3)
        counts = np.zeros((n, 3))
        taken = ~valid
        out_items, out_scores = empty_lists(n, k)
        rows = np.arange(n)
        for t in range(min(k, n_cand)):
            q = (counts[:, None, :] + cand_oh) / (t + 1)
            js = js_divergence(np.repeat(p, n_cand, axis=0), q.reshape(-1, 3)).reshape(n, n_cand)
            js = np.where(has_prof[:, None], js, 0.0)
            obj = np.where(taken, -np.inf, (1 - lam) * rel - lam * js)
            best = np.argmax(obj, axis=1)
            ok = np.isfinite(obj[rows, best])
            out_items[ok, t] = items[rows[ok], best[ok]]
            out_scores[ok, t] = scores[rows[ok], best[ok]]
            counts[ok] += cand_oh[rows[ok], best[ok]]
            taken[rows[ok], best[ok]] = True
        return out_items, out_scores
