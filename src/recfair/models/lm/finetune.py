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
from recfair.errors import check_nonneg_float, check_param, check_positive_int
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.lm.common import LMRecommender, time_ordered_rows
from recfair.models.lm.hf import ENCODER_MODES, TextTower, pick_device

log = logging.getLogger(__name__)


class LMTextModel(LMRecommender):
    """Shared training loop of the models whose encoder reads the full user text."""

    history_in_text = True

    def _check_text_params(self, modes: Sequence[str]) -> None:
        owner = type(self).__name__
        check_param(self.encoder_mode, "encoder_mode", owner, f"one of {', '.join(modes)}", self.encoder_mode in modes)
        check_positive_int(self.accumulation_steps, "accumulation_steps", owner)
        check_positive_int(self.max_length, "max_length", owner)
        s = self.steps_per_epoch
        check_param(s, "steps_per_epoch", owner, "None or a positive int",
                    s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0))

    def _build_tower(self) -> TextTower:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            tower = TextTower(self.encoder, self.encoder_mode, lora_r=self.lora_r, lora_alpha=self.lora_alpha,
                              lora_targets=tuple(self.lora_targets), max_length=self.max_length)
        return tower.to(pick_device(self.device))

    def _loop(self, train, valid, sample_weight, penalty, modules: list[torch.nn.Module], batch_loss) -> None:
        """Seeded epochs over training interactions with gradient accumulation and early stopping."""
        from recfair.models.classic import _torch as tu

        rows_indptr, rows_items, ranks = time_ordered_rows(train)
        self._rows = (rows_indptr, rows_items)
        users_all, items_all = train.user.astype(np.int64), train.item.astype(np.int64)
        weights = np.ones(len(users_all), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
        params = [p for m in modules for p in m.parameters() if p.requires_grad]
        if penalty is not None:
            penalty.bind(train)
            params += list(penalty.parameters())
        opt = torch.optim.AdamW(params, lr=float(self.learning_rate), weight_decay=float(self.reg))
        rng = np.random.default_rng(self.seed)
        stopper = tu.EarlyStopping(self.patience) if valid is not None else None
        self.history_log_: list[dict] = []
        acc = int(self.accumulation_steps)
        t0 = time.perf_counter()
        with tu.epoch_progress(self.epochs, type(self).__name__, self.progress) as advance:
            for epoch in range(1, self.epochs + 1):
                for m in modules:
                    m.train()
                perm = rng.permutation(len(users_all))
                if self.steps_per_epoch is not None:
                    perm = perm[: self.steps_per_epoch * self.batch_size]
                total, n_steps, t_train = 0.0, 0, time.perf_counter()
                opt.zero_grad(set_to_none=True)
                batches = [perm[s : s + self.batch_size] for s in range(0, len(perm), self.batch_size)]
                for b, idx in enumerate(batches):
                    u, t = users_all[idx], items_all[idx]
                    losses, pbatch = batch_loss(u, t, ranks[idx], rng)
                    w = torch.from_numpy(weights[idx]).to(losses.device)
                    loss = (losses * w).mean()
                    if penalty is not None:
                        pbatch.losses = losses * w
                        loss = loss + penalty(pbatch)
                    (loss / acc).backward()
                    if (b + 1) % acc == 0 or b + 1 == len(batches):
                        opt.step()
                        opt.zero_grad(set_to_none=True)
                    total += float(loss.detach())
                    n_steps += 1
                t_train = time.perf_counter() - t_train
                self._refresh()
                record = {"epoch": epoch, "loss": total / max(n_steps, 1), "steps": n_steps,
                          "train_seconds": t_train, "seconds": time.perf_counter() - t0}
                stop = False
                if stopper is not None:
                    record["valid_ndcg@10"] = self._valid_ndcg(valid)
                    stop = stopper.step(record["valid_ndcg@10"], epoch, self._torch_state)
                self.history_log_.append(record)
                advance(**{k: v for k, v in record.items() if k in ("loss", "valid_ndcg@10")})
                if self.checkpoint_dir is not None:
                    self.save(Path(self.checkpoint_dir) / f"epoch-{epoch:03d}")
                if stop:
                    break
        self.best_epoch_ = len(self.history_log_)
        if stopper is not None and stopper.best_state is not None:
            self._load_torch_state(stopper.best_state)
            self.best_epoch_ = stopper.best_epoch
            self._refresh()

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
    patience:
        Epochs without validation nDCG@10 improvement before stopping (with ``valid``).
    threads:
        Torch intra-op threads (``None``: torch's setting).
    device:
        ``None``: CUDA when available, else CPU.
    checkpoint_dir:
        Folder receiving ``epoch-NNN/`` saved models after each epoch.
    encoder, encoder_batch_size, user_fields, max_history, item_template, user_template:
        Backbone folder and text rendering.
    """

    name = "lm-finetune"

    def __init__(
        self,
        encoder_mode: str = "lora",
        epochs: int = 1,
        learning_rate: float = 5e-4,
        reg: float = 0.0,
        batch_size: int = 32,
        accumulation_steps: int = 1,
        n_negatives: int = 0,
        temperature: float = 0.05,
        steps_per_epoch: int | None = None,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_targets: Sequence[str] = ("query", "value"),
        max_length: int = 128,
        patience: int = 2,
        seed: int = 0,
        threads: int | None = None,
        device: str | None = None,
        checkpoint_dir: str | None = None,
        encoder: str | None = None,
        encoder_batch_size: int = 64,
        user_fields: Sequence[str] = T.DEFAULT_USER_FIELDS,
        max_history: int = T.DEFAULT_MAX_HISTORY,
        item_template: str = T.DEFAULT_ITEM_TEMPLATE,
        user_template: str = T.DEFAULT_USER_TEMPLATE,
        progress: bool = True,
    ) -> None:
        self.encoder_mode = encoder_mode
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.reg = reg
        self.batch_size = batch_size
        self.accumulation_steps = accumulation_steps
        self.n_negatives = n_negatives
        self.temperature = temperature
        self.steps_per_epoch = steps_per_epoch
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_targets = list(lora_targets)
        self.max_length = max_length
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.encoder = encoder
        self.encoder_batch_size = encoder_batch_size
        self.user_fields = list(user_fields)  # lists round-trip through JSON unchanged
        self.max_history = max_history
        self.item_template = item_template
        self.user_template = user_template
        self.progress = progress

    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        owner = type(self).__name__
        self._check_text_params(("full", "lora"))
        check_nonneg_float(self.reg, "reg", owner)
        n = self.n_negatives
        check_param(n, "n_negatives", owner, "a non-negative int", isinstance(n, int) and not isinstance(n, bool) and n >= 0)
        t = self.temperature
        check_param(t, "temperature", owner, "a positive number", isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0)
        self._start_lm_fit(train, sample_weight)
        self.tower_ = self._build_tower()
        pool = np.flatnonzero(self.trained_items_)
        use_penalty = penalty is not None and float(penalty.weight) != 0.0

        def batch_loss(u, t, r, rng):
            texts = self._prefix_texts(self._rows, u, r)
            neg = pool[rng.integers(0, len(pool), int(self.n_negatives))] if self.n_negatives else np.zeros(0, np.int64)
            cand = np.unique(np.concatenate([t, neg]))
            p = self.tower_(texts)
            q = self.tower_([self.item_texts_[j] for j in cand])
            logits = p @ q.T / float(self.temperature)
            label = torch.from_numpy(np.searchsorted(cand, t)).to(logits.device)
            losses = F.cross_entropy(logits, label, reduction="none")
            pb = None
            if use_penalty:
                pos = logits.gather(1, label.unsqueeze(1)).squeeze(1)
                pb = PenaltyBatch(torch.from_numpy(u), torch.from_numpy(t), pos, user_embeddings=p, item_embeddings=q[label])
            return losses, pb

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._loop(train, valid, sample_weight, penalty if use_penalty else None, [self.tower_], batch_loss)
        return self

    def _refresh(self) -> None:
        self.item_emb_ = self.tower_.encode(self.item_texts_, self.encoder_batch_size)

    def _score_user_texts(self, texts: list[str]) -> np.ndarray:
        p = self.tower_.encode(texts, self.encoder_batch_size)
        return (p @ self.item_emb_.T / float(self.temperature)).astype(np.float32)

    def _torch_state(self) -> dict[str, torch.Tensor]:
        return {n: p for n, p in self.tower_.model.named_parameters() if p.requires_grad}

    def _load_torch_state(self, state: dict[str, torch.Tensor]) -> None:
        self.tower_.load_trainable_state({k: v.cpu().numpy() for k, v in state.items()})

    def _get_model_state(self) -> dict[str, np.ndarray]:
        state = {f"encoder.{k}": v for k, v in self.tower_.trainable_state().items()}
        state["item_emb"] = self.item_emb_
        return state

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        self.tower_ = self._build_tower()
        self.tower_.load_trainable_state({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        self.item_emb_ = state["item_emb"]


__all__ = ["ENCODER_MODES", "LMFinetuneRecommender", "LMTextModel"]
