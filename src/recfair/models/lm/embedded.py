"""What ``lm-frozen`` and ``lm-hybrid`` share: a torch network trained over frozen text embeddings.

Both embed every item text and user profile once with the frozen
:class:`~recfair.models.lm.encoder.TextEncoder` (``item_emb_``, ``profile_emb_``;
the encoder's disk cache makes a re-fit cheap), train a small network ``net_``
on top, and save the two embedding tables next to the network's weights.
"""

from __future__ import annotations

import numpy as np
import torch

from recfair.models.lm.common import LMRecommender


class EmbeddedTextRecommender(LMRecommender):
    """An ``lm-*`` model whose network ``net_`` reads frozen text embeddings.

    Subclasses define :meth:`_build_net` (a network for the current embeddings and
    hyper-parameters) and ``_refresh`` (rebuild the scoring caches from ``net_``).
    """

    history_in_text = False
    default_threads = 1  # fastest for these small heads on a shared machine

    def _start_embedded_fit(self, train, sample_weight=None) -> None:
        """:meth:`_start_lm_fit`, then embed every item text and user profile."""
        self._start_lm_fit(train, sample_weight)
        enc = self._text_encoder()
        self.item_emb_ = enc.encode(self.item_texts_)
        self.profile_emb_ = enc.encode(self.profile_texts_)

    def _build_net(self) -> torch.nn.Module:
        """A network for ``item_emb_`` / ``profile_emb_`` and the hyper-parameters."""
        raise NotImplementedError

    def _refresh(self) -> None:
        """Rebuild the scoring caches from ``net_``."""
        raise NotImplementedError

    def _get_model_state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().numpy() for k, v in self.net_.state_dict().items()}
        state["item_emb"], state["profile_emb"] = self.item_emb_, self.profile_emb_
        return state

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_emb_, self.profile_emb_ = state["item_emb"], state["profile_emb"]
        self.net_ = self._build_net()
        self.net_.load_state_dict({k[4:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("net.")})
        self._refresh()
