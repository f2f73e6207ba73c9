"""``lm-classifier``: user text in, a classification head over the whole catalogue out.

The "BERT for recommendation" set-up: the user's text (profile + recent titles)
goes through a text encoder — frozen, with LoRA adapters, or fully fine-tuned —
and a linear head with one output per item scores the catalogue.  Two losses:

* ``"softmax"``: one example per training interaction; the text holds the titles
  before it (next-item training); cross-entropy over the trained items;
* ``"multilabel"``: one example per user and epoch, cut at a seeded random point
  of the user's time-ordered history; the text holds the items before the cut and
  every item from the cut on is a positive (binary cross-entropy over the trained items).

With ``init_from_text`` the head's rows start as the items' text embeddings
(so similar titles start with similar outputs).  Items with no training
interaction have untrained head rows: the model refuses them as candidates
(``supports_cold_items = False``); cold users are fine (their text is enough).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from recfair.errors import RecfairError
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.lm.history import time_ordered_rows
from recfair.models.lm.config import LMClassifierConfig
from recfair.models.lm.finetune import LMTextModel
from recfair.models.training import use_penalty as trained_with

log = logging.getLogger(__name__)

LOSSES = ("softmax", "multilabel")
MULTILABEL_ONLY = "lm-classifier supports {what} only with loss='softmax' (one example per training interaction)."


class LMClassifierRecommender(LMTextModel):
    """Text encoder + linear head over the item catalogue (``lm-classifier``).

    Parameters
    ----------
    encoder_mode:
        ``"frozen"``, ``"lora"`` or ``"full"``.
    loss:
        ``"softmax"`` (next item) or ``"multilabel"`` (future items of the user).
    init_from_text:
        Initialise the head rows from the items' text embeddings.
    epochs, learning_rate, reg, batch_size, seed, accumulation_steps, steps_per_epoch,
    lora_r, lora_alpha, lora_targets, max_length, patience,
    encoder, encoder_batch_size, user_fields, max_history, item_template, user_template:
        As for ``lm-finetune``.
    """

    name = "lm-classifier"
    supports_cold_items = False

    Config = LMClassifierConfig

    # ------------------------------------------------------------------ fit
    def _build_head(self, dim: int) -> torch.nn.Linear:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            head = torch.nn.Linear(dim, self.n_items_)
        torch.nn.init.zeros_(head.bias)
        return head.to(self.tower_.device)

    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        self._start_lm_fit(train, sample_weight)
        self.tower_ = self._build_tower()
        self.head_ = self._build_head(self.tower_.dimension)
        if self.init_from_text:
            with torch.no_grad():
                x = torch.from_numpy(self.tower_.encode(self.item_texts_, self.encoder_batch_size))
                self.head_.weight.copy_(x * (self.head_.weight.norm(dim=1, keepdim=True).mean() / x.norm(dim=1, keepdim=True).clamp(min=1e-8)))
        trained = torch.from_numpy(self.trained_items_).to(self.tower_.device)
        use_penalty = trained_with(penalty)
        if self.loss == "multilabel":
            if use_penalty or sample_weight is not None:
                raise RecfairError(MULTILABEL_ONLY.format(what="an in-processing penalty" if use_penalty else "sample_weight"))
            self._fit_multilabel(train, valid, trained)
            return self

        def batch_loss(u, t, r, rng):
            h = self.tower_(self._prefix_texts(self._rows, u, r))
            logits = self.head_(h).masked_fill(~trained, float("-inf"))
            tt = torch.from_numpy(t).to(logits.device)
            losses = F.cross_entropy(logits, tt, reduction="none")
            pb = None
            if use_penalty:
                pos = logits.gather(1, tt.unsqueeze(1)).squeeze(1)
                pb = PenaltyBatch(torch.from_numpy(u), tt, pos, user_embeddings=h, item_embeddings=self.head_.weight[tt])
            return losses, pb

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._loop(train, valid, sample_weight, penalty if use_penalty else None, [self.tower_, self.head_], batch_loss)
        return self

    def _fit_multilabel(self, train, valid, trained) -> None:
        """One example per user per epoch: items before a random cut → the items from it on."""
        n_users = self.n_users_
        counts = np.bincount(train.user, minlength=n_users)
        active = np.flatnonzero(counts > 0)
        # a pseudo training set with one interaction per active user drives the shared loop
        pseudo = train.with_interactions(active.astype(np.int32), np.zeros(len(active), np.int32),
                                         None, np.zeros(len(active), np.int64))
        indptr, items, _ = time_ordered_rows(train)

        def batch_loss(u, t_unused, r_unused, rng):
            n_u = indptr[u + 1] - indptr[u]
            cut = rng.integers(0, n_u)  # items[ :cut] → input, items[cut:] → positives
            texts = self._prefix_texts((indptr, items), u, cut)
            target = torch.zeros(len(u), self.n_items_, device=trained.device)
            rows = np.repeat(np.arange(len(u)), n_u - cut)
            cols = np.concatenate([items[indptr[a] + c : indptr[a + 1]] for a, c in zip(u, cut)])
            target[torch.from_numpy(rows), torch.from_numpy(cols)] = 1.0
            logits = self.head_(self.tower_(texts))
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            losses = (bce * trained).sum(1) / trained.sum()
            return losses, None

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._loop(pseudo, valid, None, None, [self.tower_, self.head_], batch_loss)

    # ---------------------------------------------------------------- score
    def _refresh(self) -> None:
        pass

    def _score_user_texts(self, texts: list[str]) -> np.ndarray:
        h = torch.from_numpy(self.tower_.encode(texts, self.encoder_batch_size)).to(self.tower_.device)
        with torch.no_grad():
            return self.head_(h).float().cpu().numpy().astype(np.float32)

    def _torch_state(self) -> dict[str, torch.Tensor]:
        state = {f"encoder.{n}": p for n, p in self.tower_.model.named_parameters() if p.requires_grad}
        state.update({f"head.{n}": p for n, p in self.head_.named_parameters()})
        return state

    def _load_torch_state(self, state: dict[str, torch.Tensor]) -> None:
        self.tower_.load_trainable_state({k[8:]: v.cpu().numpy() for k, v in state.items() if k.startswith("encoder.")})
        self.head_.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})

    def _get_model_state(self) -> dict[str, np.ndarray]:
        state = {f"encoder.{k}": v for k, v in self.tower_.trainable_state().items()}
        state.update({f"head.{k}": v.detach().cpu().numpy() for k, v in self.head_.state_dict().items()})
        return state

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        self.tower_ = self._build_tower()
        self.tower_.load_trainable_state({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        self.head_ = self._build_head(self.tower_.dimension)
        self.head_.load_state_dict({k[5:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("head.")})

