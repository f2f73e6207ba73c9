"""Adversarial removal of a sensitive attribute from user representations.

A small MLP discriminator predicts the user's attribute from ``batch.user_embeddings``;
the model receives the discriminator's loss through a gradient-reversal layer
(Ganin & Lempitsky 2015), as in FairGo / UP5-style training, so it learns embeddings
from which the attribute cannot be predicted.

Training the discriminator
--------------------------
Gradient reversal only removes information when the discriminator is close to optimal
for the current embeddings; with one discriminator step per model step it lags, the
model merely flips the attribute's encoding and a fresh probe reads it *better* than
before (measured: AUC 0.96 → 1.00 on a planted-taste data set).  So by default
(``disc_steps=5``) the penalty trains the discriminator itself: at every batch it takes
``disc_steps`` Adam steps (``learning_rate``) on the batch's detached embeddings, then
returns the reversed term.  ``parameters()`` is then empty.  With ``disc_steps=0`` the
discriminator is trained only by the model's optimiser: ``parameters()`` returns its
parameters (when ``embedding_size`` is given; otherwise it is built at the first batch
and stepped by its own optimiser with the gradients of the previous backward pass).

The returned value is the discriminator's cross-entropy (``reversal``) — λ scales only
the reversed gradient reaching the model — or ``CE + λ·confusion`` (``confusion``: the
model pushes a frozen copy of the discriminator towards uniform predictions).
``weight == 0``: the model skips the call, so training is bit-identical to no penalty.
The discriminator's initial weights come from its own ``torch.Generator(seed)``.
"""

from __future__ import annotations

import numpy as np
import torch

from recfair.errors import RecfairError, check_nonneg_float, check_param, check_positive_int
from recfair.mitigation._groups import user_labels
from recfair.mitigation.inprocess import NEEDS_FIELD, NOT_BOUND, _zero
from recfair.models.base import Penalty, PenaltyBatch

__all__ = ["ADVERSARY_MODES", "AdversarialPenalty", "grad_reverse"]

ADVERSARY_MODES = ("reversal", "confusion")


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-scale`` in the backward pass."""
    return _GradReverse.apply(x, float(scale))


class AdversarialPenalty(Penalty):
    """Gradient-reversal adversary that removes a user attribute from user embeddings.

    Parameters
    ----------
    attribute:
        User group spec (``gender``, ``age``, ``activity``, any categorical column).
    weight:
        λ: scale of the reversed gradient reaching the model.
    embedding_size:
        Width of ``batch.user_embeddings`` if known (else read from the first batch).
    hidden_size:
        Width of the discriminator's hidden layer.
    disc_steps:
        Discriminator steps per batch taken by the penalty itself (0 = leave it to the
        model's optimiser; see the module docs).
    learning_rate:
        Learning rate of the discriminator's own Adam optimiser.
    balanced:
        Weight the cross-entropy by inverse class frequency among training users,
        so a majority class cannot be predicted "for free".
    mode:
        ``reversal`` (default) or ``confusion``.
    seed:
        Seed of the discriminator's initial weights.

    Each batch's users are de-duplicated (one row per user), matching a per-user probe.

    Examples
    --------
    >>> pen = AdversarialPenalty("gender", weight=1.0)          # doctest: +SKIP
    >>> BPRRecommender().fit(train, penalty=pen)                # doctest: +SKIP
    """

    def __init__(
        self,
        attribute: str,
        weight: float = 1.0,
        *,
        embedding_size: int | None = None,
        hidden_size: int = 32,
        disc_steps: int = 5,
        learning_rate: float = 0.05,
        balanced: bool = True,
        mode: str = "reversal",
        seed: int = 0,
    ) -> None:
        self.attribute = attribute
        self.weight = weight
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.disc_steps = disc_steps
        self.learning_rate = learning_rate
        self.balanced = balanced
        self.mode = mode
        self.seed = seed

    def bind(self, train) -> None:
        owner = type(self).__name__
        check_nonneg_float(self.weight, "weight", owner)
        check_positive_int(self.hidden_size, "hidden_size", owner)
        ok = isinstance(self.disc_steps, int) and not isinstance(self.disc_steps, bool) and self.disc_steps >= 0
        check_param(self.disc_steps, "disc_steps", owner, "a non-negative int", ok)
        check_param(self.mode, "mode", owner, f"one of {', '.join(ADVERSARY_MODES)}", self.mode in ADVERSARY_MODES)
        codes, names = user_labels(train, self.attribute, owner=owner)
        if len(names) < 2:
            raise RecfairError(f"{owner} needs at least two groups of '{self.attribute}'; found {names}.")
        self.labels_ = torch.as_tensor(codes, dtype=torch.int64)
        self.groups_ = names
        present = (np.asarray(train.user_counts) > 0) & (codes >= 0)
        counts = np.bincount(codes[present], minlength=len(names)).astype(np.float64)
        cw = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 0.0)
        self.class_weight_ = torch.as_tensor(cw if self.balanced else np.ones(len(names)), dtype=torch.float32)
        self.discriminator_ = None
        self.optimizer_ = None
        if self.embedding_size is not None:
            self._build(check_positive_int(self.embedding_size, "embedding_size", owner))

    def _build(self, width: int) -> None:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(self.seed))
        h, c = int(self.hidden_size), len(self.groups_)
        layers = [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Linear(h, c)]
        with torch.no_grad():
            for layer in (layers[0], layers[2]):
                bound = 1.0 / np.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
        self.discriminator_ = torch.nn.Sequential(*layers)
        self._external = self.disc_steps == 0 and self.embedding_size is not None
        if not self._external:
            self.optimizer_ = torch.optim.Adam(self.discriminator_.parameters(), lr=float(self.learning_rate))

    def parameters(self) -> list:
        """The discriminator's parameters when the model's optimiser is to train them, else ``[]``."""
        if getattr(self, "discriminator_", None) is None or not self._external:
            return []
        return list(self.discriminator_.parameters())

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Discriminator logits for ``(n, d)`` embeddings (no gradient reversal)."""
        if getattr(self, "discriminator_", None) is None:
            raise RecfairError(NOT_BOUND.format(owner=type(self).__name__))
        return self.discriminator_(embeddings)

    def _train_discriminator(self, e: torch.Tensor, y: torch.Tensor) -> None:
        opt = self.optimizer_
        if self.disc_steps == 0:
            opt.step()  # gradients left by the previous batch's backward pass
        opt.zero_grad(set_to_none=True)
        x = e.detach()
        for _ in range(self.disc_steps):
            loss = torch.nn.functional.cross_entropy(self.discriminator_(x), y, weight=self.class_weight_)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        if not hasattr(self, "labels_"):
            raise RecfairError(NOT_BOUND.format(owner=type(self).__name__))
        emb = batch.user_embeddings
        if emb is None:
            raise RecfairError(
                NEEDS_FIELD.format(owner="AdversarialPenalty", field="user_embeddings", hint="a model with user vectors")
            )
        if self.discriminator_ is None:
            self._build(int(emb.shape[1]))
        users = batch.users.to(torch.int64)
        uniq, inv = torch.unique(users, return_inverse=True)
        first = torch.full((uniq.numel(),), users.numel(), dtype=torch.int64).scatter_reduce(
            0, inv, torch.arange(users.numel()), reduce="amin"
        )
        labels = self.labels_[uniq]
        keep = labels >= 0
        if not keep.any():
            return _zero(emb)
        e, y = emb[first[keep]], labels[keep]
        if self.optimizer_ is not None:
            self._train_discriminator(e, y)
        if self.mode == "reversal":
            x = grad_reverse(e, self.weight)
            return torch.nn.functional.cross_entropy(self.discriminator_(x), y, weight=self.class_weight_)
        disc = torch.nn.functional.cross_entropy(self.discriminator_(e.detach()), y, weight=self.class_weight_)
        frozen = {n: p.detach() for n, p in self.discriminator_.named_parameters()}
        logp = torch.nn.functional.log_softmax(torch.func.functional_call(self.discriminator_, frozen, (e,)), dim=1)
        w = self.class_weight_[y]
        confusion = -(logp.mean(dim=1) * w).sum() / w.sum()
        return disc + self.weight * confusion

    def __repr__(self) -> str:
        return f"AdversarialPenalty(attribute={self.attribute!r}, weight={self.weight!r}, seed={self.seed!r})"
