"""``lm-finetune``: a contrastive two-tower whose text encoder is itself fine-tuned.

One shared encoder (full fine-tuning or LoRA adapters via ``peft``) embeds the
user text (profile + the titles of the items before the target, most recent
first — next-item training) and the item text; the score is the cosine
similarity divided by ``temperature``.  The loss is softmax over the batch's
positive items (in-batch negatives) plus ``n_negatives`` shared items sampled
uniformly from the trained catalogue.  Gradients can be accumulated over
``accumulation_steps`` mini-batches; ``checkpoint_dir`` receives a saved model
(safetensors + JSON) after every epoch.  Runs on CPU and uses CUDA when present.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recfair.data import text as T
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models import torch_kit as tk
from recfair.models.training import Step, Trainer
from recfair.models.training import use_penalty as trained_with
from recfair.models.lm.common import LMRecommender
from recfair.models.lm.history import time_ordered_rows
from recfair.models.lm.config import LMFinetuneConfig
from recfair.models.lm.hf import ENCODER_MODES, TextTower, pick_device
from recfair.models.lm.partial import shared_text_mask, window_batches
from recfair.models.lm.task import LMTask

log = logging.getLogger(__name__)


class ItemOffsets(torch.nn.Module):
    """Learned item-side terms of ``lm-finetune`` next to the text: an id vector added to each
    item's text vector (``use_item_ids``) and a bias per item (``item_bias``), both starting at 0.

    ``score(p, q, items)`` is ``(p · (q + ids[items]) + bias[items]) / temperature``.
    """

    def __init__(self, n_items: int, dimension: int, *, ids: bool, bias: bool) -> None:
        super().__init__()
        self.ids = torch.nn.Parameter(torch.zeros(n_items, dimension)) if ids else None
        self.bias = torch.nn.Parameter(torch.zeros(n_items)) if bias else None

    def score(self, p: torch.Tensor, q: torch.Tensor, items: torch.Tensor, temperature: float) -> torch.Tensor:
        """Logits of user vectors ``p`` (B, d) against the items ``items`` with text vectors ``q``."""
        if self.ids is not None:
            q = q + self.ids[items]
        logits = p @ q.T
        if self.bias is not None:
            logits = logits + self.bias[items]
        return logits / temperature

    def table(self, trained: np.ndarray) -> dict[str, np.ndarray]:
        """The offsets as arrays for scoring; an item never trained gets no id vector and the mean bias."""
        out = {}
        if self.ids is not None:
            out["item_ids"] = self.ids.detach().cpu().numpy().copy()
        if self.bias is not None:
            bias = self.bias.detach().cpu().numpy().copy()
            bias[~trained] = bias[trained].mean() if trained.any() else 0.0
            out["item_bias"] = bias
        return out


class _TextTask(LMTask):
    """Training of the text models for the shared trainer: ``batch_loss(users, items, ranks, rng)`` per batch.

    The trained state is the model's (encoder and heads), not one ``net``."""

    def __init__(self, model: "LMTextModel", train, valid, modules: list[torch.nn.Module], batch_loss, ranks) -> None:
        self.model, self.valid, self.modules, self.batch_loss, self.ranks = model, valid, modules, batch_loss, ranks
        self.users, self.items = train.user.astype(np.int64), train.item.astype(np.int64)
        self.n_examples = len(self.users)
        self.rng = np.random.default_rng(model.seed)
        self.generator = tk.make_generator(model.seed)

    def param_groups(self) -> list[dict]:
        return [{"params": [p for m in self.modules for p in m.parameters() if p.requires_grad]}]

    def start_epoch(self, epoch: int) -> None:
        for m in self.modules:
            m.train()

    def batches(self, epoch: int):
        window = int(getattr(self.model, "user_window", 1))
        if window == 1:
            return None
        return window_batches(self.users, self.ranks, window, self.model.batch_size, self.generator)

    def step(self, idx, with_penalty: bool) -> Step:
        idx = idx.numpy()
        losses, batch = self.batch_loss(self.users[idx], self.items[idx], self.ranks[idx], self.rng)
        return Step(losses, penalty_batch=batch)

    def state(self) -> dict[str, torch.Tensor]:
        return self.model._torch_state()

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model._load_torch_state(state)

    def finish(self, restored: bool) -> None:
        if restored:
            self.model._refresh()


class LMTextModel(LMRecommender):
    """Shared training loop of the models whose encoder reads the full user text."""

    history_in_text = True

    def _build_tower(self) -> TextTower:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            tower = TextTower(self.encoder, self.encoder_mode, lora_r=self.lora_r, lora_alpha=self.lora_alpha,
                              lora_targets=tuple(self.lora_targets), max_length=self.max_length,
                              train_layers=getattr(self, "train_layers", None),
                              cache_lower=getattr(self, "cache_lower", False),
                              cache_dtype=getattr(self, "cache_dtype", "float16"))
        return tower.to(pick_device(self.runtime.device))

    def _loop(self, train, valid, sample_weight, penalty, modules: list[torch.nn.Module], batch_loss) -> None:
        """Seeded epochs over training interactions (the shared trainer) with accumulation and early stopping."""
        rows_indptr, rows_items, ranks = time_ordered_rows(train)
        self._rows = (rows_indptr, rows_items)
        threads, progress, ckpt = self.runtime.threads, self.runtime.progress, self.runtime.checkpoint_dir
        trainer = Trainer(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate, patience=self.patience,
            optimizer="adamw", weight_decay=float(self.reg), lr_decay=bool(self.lr_decay),
            accumulation_steps=int(self.accumulation_steps),
            max_batches=self.steps_per_epoch, threads=threads, progress=progress, description=type(self).__name__,
            on_epoch_end=None if ckpt is None else (lambda epoch: self.save(Path(ckpt) / f"epoch-{epoch:03d}")),
        )
        task = _TextTask(self, train, valid, modules, batch_loss, ranks)
        trainer.run(task, train=train, sample_weight=sample_weight, penalty=penalty,
                    validate=valid is not None).store(self)

    def _torch_state(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _load_torch_state(self, state: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def _score_known(self, users: np.ndarray) -> np.ndarray:
        return self._score_user_texts(self._known_user_texts(users))

    def _score_texts(self, user_texts: Sequence[str], users: np.ndarray | None = None) -> np.ndarray:
        """Scores of user texts (profile + history titles, as :meth:`render_user_texts` makes them)."""
        texts, _ = self._check_texts(user_texts, users)
        return self._score_user_texts(texts)


class LMFinetuneRecommender(LMTextModel):
    """Contrastive two-tower with a fine-tuned (full or LoRA) text encoder (``lm-finetune``).

    Parameters
    ----------
    encoder_mode:
        ``"lora"`` (adapters only) or ``"full"``.
    epochs, learning_rate, reg, batch_size, seed:
        The usual; ``reg`` is AdamW weight decay.
    accumulation_steps:
        Mini-batches whose gradients are summed before each optimiser step.
    n_negatives:
        Extra uniformly sampled negative items per mini-batch (besides in-batch ones).
    temperature:
        Softmax temperature on cosine similarities.
    steps_per_epoch:
        Cap on mini-batches per epoch (``None``: one pass over all training interactions).
    lora_r, lora_alpha, lora_targets:
        LoRA settings.
    max_length:
        Token budget per text.
    train_layers, cache_lower, cache_dtype:
        Partial fine-tuning: only the top ``train_layers`` encoder layers train (LoRA on
        them only with ``encoder_mode="lora"``); with ``cache_lower`` the frozen layers'
        output is computed once per text and cached (:mod:`recfair.models.lm.partial`).
    user_window:
        ``w > 1``: the examples at positions ``[k·w, (k+1)·w)`` of a user's time-ordered row
        share one user text (the history before ``k·w``) and are batched together, so an
        epoch encodes about ``w`` times fewer user texts; a window's other positives are
        not scored as its negatives.  ``1`` (default): one text per example.
    item_refresh_every, negatives:
        ``1`` / ``"in-batch"`` (default): item texts are encoded with gradients every step.
        Otherwise items come from a catalogue table encoded without gradients every
        ``item_refresh_every`` steps, and ``negatives="all"`` scores every trained item.
    lr_decay:
        Decay the learning rate linearly to 0 over all steps (default off).
    use_item_ids, item_bias:
        Learn an id vector per item added to its text vector, and a bias per item
        (:class:`ItemOffsets`; both start at 0, off by default).  Items never trained keep
        no id vector and get the mean bias, so new items are scored by their text.
    patience:
        Epochs without validation nDCG@10 improvement before stopping (with ``valid``).
    encoder, encoder_batch_size, user_fields, max_history, item_template, user_template:
        Backbone folder and text rendering.

    ``runtime`` (not saved): ``threads`` (``None``: torch's setting), ``device``
    (``None``: CUDA when available) and ``checkpoint_dir`` (receives ``epoch-NNN/``
    saved models after each epoch).
    """

    name = "lm-finetune"

    Config = LMFinetuneConfig

    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        self._start_lm_fit(train, sample_weight)
        self.tower_ = self._build_tower()
        self.offsets_ = self._build_offsets()
        pool = np.flatnonzero(self.trained_items_)
        use_penalty = trained_with(penalty)

        window = int(self.user_window)

        def batch_loss(u, t, r, rng):
            if window == 1:  # one text per example
                p, text_of = self.tower_(self._prefix_texts(self._rows, u, r)), None
            else:  # one text per user window in the batch
                cut = r // window * window
                _, first, text_of = np.unique(u * (int(r.max()) + 1) + cut, return_index=True, return_inverse=True)
                p = self.tower_(self._prefix_texts(self._rows, u[first], cut[first]))[torch.from_numpy(text_of)]
            cand, cand_t, q = self._candidates(pool, t, rng)
            logits = self.offsets_.score(p, q, cand_t, float(self.temperature))
            label_np = np.searchsorted(cand, t)
            if text_of is not None:
                shared = torch.from_numpy(shared_text_mask(text_of, label_np, len(cand))).to(logits.device)
                logits = logits.masked_fill(shared, float("-inf"))
            label = torch.from_numpy(label_np).to(logits.device)
            losses = F.cross_entropy(logits, label, reduction="none")
            pb = None
            if use_penalty:
                pos = logits.gather(1, label.unsqueeze(1)).squeeze(1)
                q_pos = q[label] if self.offsets_.ids is None else q[label] + self.offsets_.ids[cand_t[label]]
                pb = PenaltyBatch(torch.from_numpy(u), torch.from_numpy(t), pos, user_embeddings=p, item_embeddings=q_pos)
            return losses, pb

        self._table_calls, self._item_table = 0, None
        #: seconds spent encoding the catalogue table during training (item_refresh_every > 1 / negatives="all")
        self.item_table_seconds_ = 0.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._loop(train, valid, sample_weight, penalty if use_penalty else None, [self.tower_, self.offsets_],
                       batch_loss)
        self._item_table = None
        return self

    def _candidates(self, pool: np.ndarray, t: np.ndarray, rng) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """Sorted candidate items of a batch with positives ``t`` (as an array and a tensor) and their vectors.

        ``item_refresh_every == 1`` and in-batch negatives: the positives plus ``n_negatives``
        sampled items, encoded with gradients now.  Otherwise rows of the catalogue table
        (no gradients), re-encoded every ``item_refresh_every`` calls; ``negatives="all"``
        takes every trained item.
        """
        table_mode = int(self.item_refresh_every) > 1 or self.negatives == "all"
        if self.negatives == "all":
            cand = pool
        else:
            k = int(self.n_negatives)
            neg = pool[rng.integers(0, len(pool), k)] if k else np.zeros(0, np.int64)
            cand = np.unique(np.concatenate([t, neg]))
        cand_t = torch.from_numpy(cand).to(self.tower_.device)
        if not table_mode:
            return cand, cand_t, self.tower_([self.item_texts_[j] for j in cand])
        calls = getattr(self, "_table_calls", 0)
        if calls % int(self.item_refresh_every) == 0:
            t0 = time.perf_counter()
            table = np.zeros((self.n_items_, self.tower_.dimension), np.float32)
            table[pool] = self.tower_.encode([self.item_texts_[j] for j in pool], self.encoder_batch_size)
            self._item_table = torch.from_numpy(table).to(self.tower_.device)
            self.item_table_seconds_ += time.perf_counter() - t0
        self._table_calls = calls + 1
        return cand, cand_t, self._item_table[cand_t]

    def _build_offsets(self) -> ItemOffsets:
        return ItemOffsets(self.n_items_, self.tower_.dimension, ids=bool(self.use_item_ids),
                           bias=bool(self.item_bias)).to(self.tower_.device)

    def _refresh(self) -> None:
        self.item_emb_ = self.tower_.encode(self.item_texts_, self.encoder_batch_size)
        self.item_offsets_ = self.offsets_.table(np.asarray(self.trained_items_, bool))

    def _score_user_texts(self, texts: list[str]) -> np.ndarray:
        p = self.tower_.encode(texts, self.encoder_batch_size)
        ids, bias = self.item_offsets_.get("item_ids"), self.item_offsets_.get("item_bias")
        logits = p @ (self.item_emb_ if ids is None else self.item_emb_ + ids).T
        if bias is not None:
            logits += bias
        return (logits / float(self.temperature)).astype(np.float32)

    def _torch_state(self) -> dict[str, torch.Tensor]:
        state = {n: p for n, p in self.tower_.model.named_parameters() if p.requires_grad}
        state.update({f"offsets.{n}": p for n, p in self.offsets_.named_parameters()})
        return state

    def _load_torch_state(self, state: dict[str, torch.Tensor]) -> None:
        self.tower_.load_trainable_state({k: v.cpu().numpy() for k, v in state.items() if not k.startswith("offsets.")})
        self.offsets_.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("offsets.")})

    def _get_model_state(self) -> dict[str, np.ndarray]:
        state = {f"encoder.{k}": v for k, v in self.tower_.trainable_state().items()}
        state["item_emb"] = self.item_emb_
        state.update({f"offsets.{k}": v.detach().cpu().numpy() for k, v in self.offsets_.state_dict().items()})
        return state

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        self.tower_ = self._build_tower()
        self.tower_.load_trainable_state({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        self.item_emb_ = state["item_emb"]
        self.offsets_ = self._build_offsets()
        self.offsets_.load_state_dict({k[8:]: torch.from_numpy(np.asarray(v)) for k, v in state.items()
                                       if k.startswith("offsets.")})
        self.item_offsets_ = self.offsets_.table(np.asarray(self.trained_items_, bool))


__all__ = ["ENCODER_MODES", "ItemOffsets", "LMFinetuneRecommender", "LMTextModel"]
