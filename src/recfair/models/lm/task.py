"""The training hooks the ``lm-*`` models share when they run the shared :class:`Trainer`.

Each ``lm-*`` model describes one epoch step in its own :class:`LMTask` subclass;
what happens around the steps is the same for all of them: the model's caches
(item table, user vectors) are rebuilt after every epoch and once at the end,
validation is the model's nDCG@10, and the state kept at the best epoch is the
trained network's ``state_dict``.
"""

from __future__ import annotations

from typing import Any

import torch

from recfair.models.training import TrainingTask


class LMTask(TrainingTask):
    """A :class:`TrainingTask` of an ``lm-*`` model (``model``) training the module ``net``.

    Subclasses set ``model``, ``net`` and ``valid`` and define :meth:`param_groups`
    and :meth:`step`; one whose trainable state is not ``net`` overrides
    :meth:`state` / :meth:`load_state`.
    """

    model: Any
    net: torch.nn.Module
    valid: Any

    def end_epoch(self, epoch: int) -> None:
        """Rebuild the model's scoring caches from the updated parameters."""
        self.model._refresh()

    def validate(self) -> float:
        """The model's nDCG@10 on ``valid``."""
        return self.model._valid_ndcg(self.valid)

    def state(self) -> dict[str, torch.Tensor]:
        """The trained network's parameters and buffers."""
        return self.net.state_dict()

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load back a state returned by :meth:`state`."""
        self.net.load_state_dict(state)

    def finish(self, restored: bool) -> None:
        """Rebuild the scoring caches from the parameters the model keeps."""
        self.model._refresh()
