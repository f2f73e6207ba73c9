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
``lambda_ == 0``: the trainer skips the call, so training is bit-identical to no penalty.
The discriminator's initial weights come from its own ``torch.Generator(seed)``.
"""

from __future__ import annotations

import numpy as np
import torch

from typing import Literal

from pydantic import Field

from recfair.errors import RecfairError
from recfair.mitigation._groups import user_labels
from recfair.mitigation.inprocess import NEEDS_FIELD, NOT_BOUND, GroupPenaltyConfig, zero_penalty
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.config import Configurable, LearningRate, Seed

__all__ = ["ADVERSARY_MODES", "AdversarialConfig", "AdversarialPenalty", "grad_reverse"]

ADVERSARY_MODES = ("reversal", "confusion")
TWO_GROUPS = "{owner} needs at least two groups of '{groups}'; found {names}."


class AdversarialConfig(GroupPenaltyConfig):
    """Hyper-parameters of :class:`AdversarialPenalty`."""

    embedding_size: int | None = Field(
        None, ge=1, description="width of the user embeddings (None = read from the first batch)"
    )
    hidden_size: int = Field(32, ge=1, description="width of the discriminator's hidden layer")
    disc_steps: int = Field(5, ge=0, description="discriminator steps per batch (0 = the model's optimiser trains it)")
    learning_rate: LearningRate = 0.05
    balanced: bool = Field(True, description="weight the discriminator's loss by inverse class frequency")
    mode: Literal["reversal", "confusion"] = Field("reversal", description="reversed cross-entropy or confusion loss")
    seed: Seed = 0


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


class AdversarialPenalty(Configurable, Penalty):
    """Gradient-reversal adversary that removes a user attribute from user embeddings.

    Parameters
    ----------
    groups:
        User group spec (``gender``, ``age``, ``activity``, any categorical column).
    lambda_:
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
    >>> pen = AdversarialPenalty("gender", lambda_=1.0)          # doctest: +SKIP
    >>> BPRRecommender().fit(train, penalty=pen)                # doctest: +SKIP
    """

    Config = AdversarialConfig
    positional = ("groups", "lambda_")

    def bind(self, train) -> None:
        """Validate the options and read user groups and class weights from the training set ``train``.

        Builds the discriminator now when ``embedding_size`` is given, else on
        the first batch.  Raises :class:`RecfairError` when the attribute has
        fewer than two groups.
        """
        owner = type(self).__name__
        _ = self.config  # re-validates attributes edited since construction
        codes, names = user_labels(train, self.groups, owner=owner)
        if len(names) < 2:
            raise RecfairError(TWO_GROUPS.format(owner=owner, groups=self.groups, names=names))
        self.labels_ = torch.as_tensor(codes, dtype=torch.int64)
        self.groups_ = names
        present = (np.asarray(train.user_counts) > 0) & (codes >= 0)
        counts = np.bincount(codes[present], minlength=len(names)).astype(np.float64)
        cw = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 0.0)
        self.class_weight_ = torch.as_tensor(cw if self.balanced else np.ones(len(names)), dtype=torch.float32)
        self.discriminator_ = None
        self.optimizer_ = None
        if self.embedding_size is not None:
            self._build(self.embedding_size)

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
            return zero_penalty(emb)
        e, y = emb[first[keep]], labels[keep]
        if self.optimizer_ is not None:
            self._train_discriminator(e, y)
        if self.mode == "reversal":
            x = grad_reverse(e, self.lambda_)
            return torch.nn.functional.cross_entropy(self.discriminator_(x), y, weight=self.class_weight_)
        disc = torch.nn.functional.cross_entropy(self.discriminator_(e.detach()), y, weight=self.class_weight_)
        frozen = {n: p.detach() for n, p in self.discriminator_.named_parameters()}
        logp = torch.nn.functional.log_softmax(torch.func.functional_call(self.discriminator_, frozen, (e,)), dim=1)
        w = self.class_weight_[y]
        confusion = -(logp.mean(dim=1) * w).sum() / w.sum()
        return disc + self.lambda_ * confusion

