"""In-processing mitigation: differentiable fairness penalties added to a model's loss.

Each class implements the :class:`~recfair.models.base.Penalty` protocol: ``bind(train)``
once (group labels and popularity come from the *training* Dataset), ``parameters()``
(none here; see :mod:`recfair.mitigation.adversarial`), then ``penalty(batch)`` returns
``lambda_ × term`` for one mini-batch.  The trainer skips the call when ``lambda_ == 0``, so
λ = 0 trains bit-identically to no penalty.

Batch-level estimates
---------------------
The Yao & Huang (2017) terms are computed per mini-batch, the way RecBole-FairRec's
FOCF does it: for every item that appears in the batch with ratings from *both* groups,
the per-group mean prediction ``E_g[y]_j`` and mean true rating ``E_g[r]_j`` are taken
over the batch's (user, item) pairs; the term is the mean over those items (zero, with
a gradient of zero, when the batch has none).  Non-parity is the absolute difference of
the two groups' mean predictions over the whole batch.  Users with an unknown group are
ignored.  The functional forms (``yao_huang_term``) work on any tensors and are also
the exact estimators of METRICS.md when given a whole test set.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

from recfair.errors import RecfairError
from recfair.mitigation._groups import binary_labels, user_labels
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.config import ComponentConfig, Configurable

__all__ = [
    "GroupLossGapPenalty",
    "GroupPenaltyConfig",
    "Lambda",
    "PopularityPenalty",
    "PopularityPenaltyConfig",
    "RatingUnfairnessConfig",
    "RatingUnfairnessPenalty",
    "UserGroups",
    "YAO_HUANG_KINDS",
    "group_loss_gap",
    "pearson",
    "yao_huang_term",
]

YAO_HUANG_KINDS = ("value", "absolute", "under", "over", "nonparity")

#: λ, a mitigation's weight (0 = no mitigation); a config sets only the default.
Lambda = Annotated[float, Field(ge=0, description="λ: weight of the fairness term (0 = no mitigation)")]
#: A user group spec of the audit grammar (``gender``, ``activity[20]``, ``gender*age``).
UserGroups = Annotated[str, Field(min_length=1, description="user group spec (gender, age, activity, activity[20], a*b …)")]


class GroupPenaltyConfig(ComponentConfig):
    """Hyper-parameters of a penalty over user groups."""

    groups: UserGroups
    lambda_: Lambda = 1.0


class RatingUnfairnessConfig(GroupPenaltyConfig):
    """Hyper-parameters of :class:`RatingUnfairnessPenalty`."""

    kind: Literal["value", "absolute", "under", "over", "nonparity"] = Field(
        description="Yao & Huang (2017) term (METRICS.md)"
    )
    squared: bool = Field(True, description="return λ·term² instead of λ·term")


class PopularityPenaltyConfig(ComponentConfig):
    """Hyper-parameters of :class:`PopularityPenalty`."""

    lambda_: Lambda = 1.0
    log: bool = Field(True, description="correlate with log(1 + popularity) rather than raw counts")

NEEDS_FIELD = "{owner} needs batch.{field}, which this model does not provide ({hint})."
NOT_BOUND = "{owner} was called before bind(train); the model must call penalty.bind(train) first."


def zero_penalty(like: torch.Tensor) -> torch.Tensor:
    """A scalar 0 that still depends on ``like`` (so backward works and adds nothing)."""
    return like.sum() * 0.0


def yao_huang_term(
    kind: str,
    predictions: torch.Tensor,
    items: torch.Tensor,
    group: torch.Tensor,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """One Yao & Huang (2017) unfairness value over (user, item) pairs, differentiably.

    A thin layer over :func:`recfair.fairness.rating.rating_unfairness_torch` (the
    audit's own estimator) that also drops pairs whose user group is unknown.

    Parameters
    ----------
    kind:
        ``value``, ``absolute``, ``under``, ``over`` or ``nonparity`` (METRICS.md).
    predictions, targets:
        ``(b,)`` predicted and true ratings (``targets`` unused for ``nonparity``).
    items:
        ``(b,)`` item index of each pair.
    group:
        ``(b,)`` int group code of each pair's user: 1 = ``g``, 0 = ``¬g``, negative = unknown (dropped).

    Returns
    -------
    torch.Tensor
        A differentiable scalar (0 when no item is rated by both groups).
    """
    from recfair.fairness.rating import rating_unfairness_torch

    if kind not in YAO_HUANG_KINDS:
        raise RecfairError(f"Unknown Yao & Huang term '{kind}'. Choose one of: {', '.join(YAO_HUANG_KINDS)}.")
    if kind != "nonparity" and targets is None:
        raise RecfairError(f"The '{kind}' unfairness term needs true ratings (targets).")
    known = group >= 0
    if not bool(known.any()):
        return zero_penalty(predictions)
    r = targets[known] if targets is not None else predictions[known].detach()
    return rating_unfairness_torch(
        "non_parity" if kind == "nonparity" else kind, predictions[known], r, items[known], group[known] == 1
    )


def group_loss_gap(losses: torch.Tensor, users: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Max − min over user groups of the mean per-user loss in a batch.

    Each user's losses are first averaged (so heavy users do not dominate their
    group), then users are averaged within their group.  Users with a negative
    group code are ignored; fewer than two groups present gives 0.
    """
    known = group >= 0
    if not known.any():
        return zero_penalty(losses)
    uniq, inv = torch.unique(users[known], return_inverse=True)
    n = uniq.numel()
    l = losses[known]
    per_user = torch.zeros(n, dtype=l.dtype).index_add(0, inv, l) / torch.zeros(n, dtype=l.dtype).index_add(
        0, inv, torch.ones_like(l)
    )
    ugroup = torch.zeros(n, dtype=torch.int64).index_put((inv,), group[known].to(torch.int64))
    n_groups = int(ugroup.max().item()) + 1
    cnt = torch.zeros(n_groups, dtype=l.dtype).index_add(0, ugroup, torch.ones_like(per_user))
    tot = torch.zeros(n_groups, dtype=l.dtype).index_add(0, ugroup, per_user)
    present = cnt > 0
    if int(present.sum()) < 2:
        return zero_penalty(losses)
    means = tot[present] / cnt[present]
    return means.max() - means.min()


def pearson(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of two ``(b,)`` tensors (0 when either is constant)."""
    xc, yc = x - x.mean(), y - y.mean()
    return (xc * yc).sum() / torch.sqrt((xc * xc).sum() * (yc * yc).sum() + eps)


class GroupPenalty(Configurable, Penalty):
    """Base of the user-group penalties: ``bind()`` reads per-user group codes from the training set."""

    Config = GroupPenaltyConfig
    positional = ("groups", "lambda_")
    binary: bool = True

    def bind(self, train) -> None:
        """Resolve ``groups`` to one int code per user (``-1`` = unknown) on ``train``."""
        owner = type(self).__name__
        _ = self.config  # re-validates attributes edited since construction
        if self.binary:
            codes, names = binary_labels(train, self.groups, owner=owner)
        else:
            codes, names = user_labels(train, self.groups, owner=owner)
        self.labels_ = torch.as_tensor(codes, dtype=torch.int64)
        self.groups_ = names

    def _group_of(self, users: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "labels_"):
            raise RecfairError(NOT_BOUND.format(owner=type(self).__name__))
        return self.labels_[users.to(torch.int64)]


class RatingUnfairnessPenalty(GroupPenalty):
    """Yao & Huang (2017) value / absolute / under / over / non-parity penalty (rating models).

    Parameters
    ----------
    kind:
        One of :data:`YAO_HUANG_KINDS`.
    groups:
        A binary user grouping (``gender``, ``activity``…).  Code 1 of the grouping
        (the second group in sorted order, e.g. ``M`` for gender) plays ``g``; the
        terms are symmetric so the choice does not matter.
    lambda_:
        λ, the factor applied to the term.
    squared:
        Return ``λ·term²`` (default) instead of ``λ·term``.  The terms are absolute
        values, whose gradient keeps its full size however close to 0 the batch
        estimate is; with Adam that makes the group means jitter, and on ML-100K the
        plain form *raised* training non-parity from 0.011 to 0.048 (λ = 1) while the
        squared form lowered it to 0.0007 at +0.02% RMSE.

    Needs ``batch.targets`` (true ratings) except for ``nonparity``.  ``value`` and
    ``absolute`` compare per-item group means *within a batch*: they need batches in
    which many items are rated by both groups (on ML-100K, ``batch_size=16384``
    rather than 1024–4096).
    """

    Config = RatingUnfairnessConfig
    positional = ("kind", "groups", "lambda_")

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        if self.kind != "nonparity" and batch.targets is None:
            raise RecfairError(
                NEEDS_FIELD.format(owner=f"the '{self.kind}' penalty", field="targets", hint="use a rating model such as mf")
            )
        group = self._group_of(batch.users)
        term = yao_huang_term(self.kind, batch.predictions, batch.items, group, batch.targets)
        return self.lambda_ * (term * term if self.squared else term)


class GroupLossGapPenalty(GroupPenalty):
    """λ × (max − min over user groups of the mean per-user loss), for any model with per-example losses.

    Works with ranking (BPR) and rating losses alike; any categorical user grouping
    (not only binary ones).  Needs ``batch.losses``.
    """

    binary = False

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        if batch.losses is None:
            raise RecfairError(NEEDS_FIELD.format(owner="GroupLossGapPenalty", field="losses", hint="per-example losses"))
        return self.lambda_ * group_loss_gap(batch.losses, batch.users, self._group_of(batch.users))


class PopularityPenalty(Configurable, Penalty):
    """λ × |Pearson correlation| between predicted scores and item popularity.

    Popularity is ``log(1 + pop_j)`` (``pop_j`` = distinct training users of item ``j``,
    taken from the training set in ``bind``); ``log=False`` uses raw counts.  The
    correlation is taken over the batch's positive pairs and, when the model gives
    them, its sampled negatives too (Zhu et al. 2021 use positives; adding negatives
    also penalises scoring popular items high for users who never chose them).
    """

    Config = PopularityPenaltyConfig
    positional = ("lambda_",)

    def bind(self, train) -> None:
        """Check ``lambda_`` and read item popularity (``log1p`` unless ``log=False``) from ``train``."""
        _ = self.config  # re-validates attributes edited since construction
        pop = np.asarray(train.item_popularity, dtype=np.float64)
        self.popularity_ = torch.as_tensor(np.log1p(pop) if self.log else pop, dtype=torch.float32)

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        if not hasattr(self, "popularity_"):
            raise RecfairError(NOT_BOUND.format(owner=type(self).__name__))
        scores, pop = [batch.predictions], [self.popularity_[batch.items.to(torch.int64)]]
        if batch.negative_predictions is not None and batch.negative_items is not None:
            scores.append(batch.negative_predictions)
            pop.append(self.popularity_[batch.negative_items.to(torch.int64)])
        s = torch.cat([t.reshape(-1) for t in scores])
        p = torch.cat([t.reshape(-1) for t in pop]).to(s.dtype)
        return self.lambda_ * pearson(s, p).abs()
