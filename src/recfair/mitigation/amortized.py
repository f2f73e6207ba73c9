"""Amortized exposure re-ranking: equity of attention across lists (Biega et al., SIGIR 2018), online.

One list cannot be fair to a group of items that are rarely among the best: a
top-10 has room for few of them.  Biega et al. amortize fairness over a
*sequence* of rankings: the attention (exposure) a group receives adds up over
the lists answered so far, and each new list is re-ordered so that the running
shares move toward their target, while that list loses at most a bounded share
of its relevance.  :class:`AmortizedExposureReRanker` is the online, greedy form
over item groups (``popularity``: head / tail, ``tiers``: head / mid / tail):

* attention of position ``i`` (1-based) is ``w_i = 1 / log2(i + 1)`` (the DCG discount);
* the state ``exposure_`` holds each group's cumulative attention over every list
  re-ranked so far (lists of one :meth:`rerank` call in row order, then later calls);
* at position ``i`` the group with the largest deficit ``t_g·(E + w_i) − E_g``
  (``E`` the total so far, ``t_g`` its target share) takes the position with its
  best remaining candidate — unless that would make the list's DCG (candidate scores
  min-max scaled to [0, 1] within the list) fall below ``(1 − λ)`` times the DCG of
  the score order, judged with the best possible completion of the list.  Otherwise
  the best remaining candidate is taken.  So every list keeps at least ``1 − λ`` of
  its ideal DCG, and ``λ = 0`` is the score order.

The state is a mapping group name → attention, so it can be saved as JSON
(:meth:`state` / :meth:`load_state`), carried to another model of the same item
groups, and cleared (:meth:`reset`).

Examples
--------
>>> r = AmortizedExposureReRanker(target=0.3, lambda_=0.1)                 # doctest: +SKIP
>>> first = r.rerank(candidates, train, k=10)          # state advances     # doctest: +SKIP
>>> r.shares()                                                              # doctest: +SKIP
{'head': 0.74, 'tail': 0.26}
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Union

import numpy as np
from pydantic import Field

from recfair.errors import RecfairError
from recfair.mitigation.rerank import (
    BAD_TARGET,
    TARGET_SUM,
    ReRanker,
    Share,
    empty_lists,
    item_group_codes,
)
from recfair.models.config import ComponentConfig, Fraction
from recfair.recommendations import PAD

__all__ = ["AmortizedExposureConfig", "AmortizedExposureReRanker", "BAD_CODES", "BAD_STATE", "position_weights"]

BAD_STATE = (
    "Amortized-exposure state for item groups '{given}' cannot be used with item_groups='{expected}' "
    "(groups {groups}); reset the state or use the same item grouping."
)

BAD_CODES = "item_codes of AmortizedExposureReRanker hold {n} items; the data set has {n_items}."


def position_weights(k: int) -> np.ndarray:
    """Attention of positions ``1..k``: ``1 / log2(i + 1)`` (float64)."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


class AmortizedExposureConfig(ComponentConfig):
    """Hyper-parameters of :class:`AmortizedExposureReRanker`."""

    target: Union[Share, dict[str, Share]] = Field(
        0.2, description="share of cumulative attention for the tail group, or {group: share} (sum at most 1)"
    )
    item_groups: Literal["popularity", "tiers"] = Field(
        "popularity", description="item grouping: popularity (head/tail) or tiers (head/mid/tail)"
    )
    lambda_: Fraction = Field(
        0.1, description="λ: largest share of a list's ideal DCG given up for exposure (0 = score order)"
    )


def _relevance(scores: np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] (all equal: all 1)."""
    lo, hi = float(scores.min()), float(scores.max())
    return (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)


class AmortizedExposureReRanker(ReRanker):
    """Online equity of attention across lists for item groups (see the module docs).

    Parameters
    ----------
    target:
        ``{group: share}`` of cumulative attention (shares sum to at most 1), or a
        float = the share of the ``tail`` group.  Groups without a target are free.
    item_groups:
        ``"popularity"`` (head / tail) or ``"tiers"`` (head / mid / tail).
    lambda_:
        Largest relative DCG loss of one list (0 = score order, 1 = no bound).
    exposure:
        Initial state (data, not a hyper-parameter): ``{group: attention}`` as
        returned by :meth:`state`'s ``"exposure"``.
    item_codes:
        Optional ``(codes, names)`` of ``item_groups`` already computed from the
        training set (:func:`~recfair.mitigation.rerank.item_group_codes`), so a
        server need not recompute them per list.

    Attributes
    ----------
    exposure_ : dict of str → float
        Cumulative attention per group over every list re-ranked so far.
    n_lists_ : int
        Number of lists re-ranked so far.
    """

    Config = AmortizedExposureConfig
    positional = ("target",)

    def __init__(self, *args: Any, exposure: Mapping[str, float] | None = None, item_codes: Any = None,
                 config: Any = None, **params: Any) -> None:
        super().__init__(*args, config=config, **params)
        self.item_codes = item_codes
        self.exposure_: dict[str, float] = {str(g): float(v) for g, v in (exposure or {}).items()}
        self.n_lists_ = 0

    # ------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """JSON-ready state: ``{"item_groups", "exposure": {group: attention}, "lists"}``."""
        return {"item_groups": self.item_groups, "exposure": dict(self.exposure_), "lists": int(self.n_lists_)}

    def load_state(self, state: Mapping[str, Any]) -> "AmortizedExposureReRanker":
        """Continue from a :meth:`state` (of the same ``item_groups``); returns ``self``."""
        given = state.get("item_groups", self.item_groups)
        if given != self.item_groups:
            raise RecfairError(BAD_STATE.format(given=given, expected=self.item_groups,
                                                groups=", ".join(self.exposure_) or "none yet"))
        self.exposure_ = {str(g): float(v) for g, v in dict(state.get("exposure", {})).items()}
        self.n_lists_ = int(state.get("lists", 0))
        return self

    def reset(self) -> "AmortizedExposureReRanker":
        """Forget all cumulative attention; returns ``self``."""
        self.exposure_, self.n_lists_ = {}, 0
        return self

    def shares(self) -> dict[str, float]:
        """Each group's share of the cumulative attention (empty before the first list)."""
        total = sum(self.exposure_.values())
        return {g: v / total for g, v in self.exposure_.items()} if total > 0 else {}

    # ----------------------------------------------------------- ranking
    def _targets(self, names: list[str]) -> np.ndarray:
        """Target share per group (NaN = free), checked against the grouping's names."""
        given = {"tail": self.target} if isinstance(self.target, (int, float)) else dict(self.target)
        unknown = [g for g in given if g not in names]
        if unknown:
            raise RecfairError(BAD_TARGET.format(group=unknown[0], owner=type(self).__name__,
                                                 item_groups=self.item_groups, choices=", ".join(names)))
        out = np.array([float(given[g]) if g in given else np.nan for g in names])
        if np.nansum(out) > 1 + 1e-9:
            raise RecfairError(TARGET_SUM.format(owner=type(self).__name__, total=np.nansum(out)))
        return out

    def _rerank(self, users, items, scores, dataset, k):
        lam = float(self.config.lambda_)
        codes, names = self.item_codes if self.item_codes is not None else item_group_codes(dataset, self.item_groups)
        if len(codes) != dataset.n_items:
            raise RecfairError(BAD_CODES.format(n=len(codes), n_items=dataset.n_items))
        targets = self._targets(names)
        attention = np.array([self.exposure_.get(g, 0.0) for g in names], dtype=np.float64)
        weights = position_weights(k)
        out_items, out_scores = empty_lists(len(users), k)
        for r in range(len(users)):
            valid = items[r] != PAD
            picks = self._one_list(scores[r][valid].astype(np.float64), codes[items[r][valid]], attention,
                                   targets, weights, lam)
            out_items[r, : len(picks)] = items[r][valid][picks]
            out_scores[r, : len(picks)] = scores[r][valid][picks]
            self.n_lists_ += 1
        self.exposure_ = {g: float(v) for g, v in zip(names, attention)}
        return out_items, out_scores

    @staticmethod
    def _one_list(scores: np.ndarray, groups: np.ndarray, attention: np.ndarray, targets: np.ndarray,
                  weights: np.ndarray, lam: float) -> list[int]:
        """Positions (into the score-sorted candidates) of one list; ``attention`` is updated in place.

        Plain Python over at most ``k`` positions and a few groups: a server runs this per request.
        """
        n = min(len(weights), len(scores))
        rel = _relevance(scores).tolist() if len(scores) else []
        w, grp, att = weights.tolist(), groups.tolist(), attention.tolist()
        floor = (1.0 - lam) * sum(w[t] * rel[t] for t in range(n)) - 1e-12
        constrained = [(g, float(t)) for g, t in enumerate(targets.tolist()) if not np.isnan(t)]
        free = list(range(len(rel)))  # remaining candidates, best first
        gained, picks = 0.0, []
        for i in range(n):
            pick = free[0]
            total = sum(att) + w[i]
            for need, g in sorted(((t * total - att[g], g) for g, t in constrained), key=lambda x: (-x[0], x[1])):
                if need <= 0:
                    break
                cand = next((j for j in free if grp[j] == g), None)
                if cand is None:  # the group has no candidate left: try the next one in deficit
                    continue
                if cand == pick:
                    break
                rest = [j for j in free[: n - i] if j != cand][: n - i - 1]
                bound = gained + w[i] * rel[cand] + sum(w[i + 1 + t] * rel[j] for t, j in enumerate(rest))
                if bound >= floor:
                    pick = cand
                    break
            free.remove(pick)
            picks.append(pick)
            gained += w[i] * rel[pick]
            att[grp[pick]] += w[i]
        attention[:] = att
        return picks
