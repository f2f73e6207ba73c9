"""Training of :class:`~recfair.models.generative.builtin.GenerativeRecommender` on the shared trainer.

Causal next-item training over each user's time-ordered training sequence: every
position predicts the next item (full softmax over the item tokens, cross-entropy),
sequences longer than ``max_len`` are cut into consecutive windows, windows of
similar length are batched together, profile tokens are replaced by neutral ones
at random (``profile_dropout``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from recfair.errors import RecfairError
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.generative.vocab import BOS_ID, PAD_ID, SEP_ID
from recfair.models.training import Step, Trainer, TrainingTask

log = logging.getLogger(__name__)

ITEM_INIT_FILE = "item_init file {path} must be .safetensors (key 'item_embeddings') or .npy; {why}"


def user_sequences(train: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Each user's training items, oldest first (ties keep file order), and the interaction order used."""
    n = train.n_interactions
    ts = train.timestamp if train.timestamp is not None else np.zeros(n, dtype=np.int64)
    order = np.lexsort((np.arange(n), ts, train.user))
    counts = np.bincount(train.user, minlength=train.n_users)
    items = train.item[order].astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [items[bounds[u] : bounds[u + 1]] for u in range(train.n_users)], order


def load_item_init(path: str) -> np.ndarray:
    """Item vectors from a ``.safetensors`` (key ``item_embeddings``) or ``.npy`` file."""
    p = Path(path)
    if not p.is_file():
        raise RecfairError(ITEM_INIT_FILE.format(path=p, why="the file does not exist"))
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    if p.suffix == ".safetensors":
        from safetensors.numpy import load_file

        state = load_file(str(p))
        if "item_embeddings" not in state:
            raise RecfairError(ITEM_INIT_FILE.format(path=p, why=f"it holds keys {sorted(state)}"))
        return state["item_embeddings"]
    raise RecfairError(ITEM_INIT_FILE.format(path=p, why=f"got suffix '{p.suffix}'"))


def _windows(
    seqs: list[np.ndarray], positions: list[np.ndarray], max_len: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(user, items, interaction positions)`` windows of at most ``max_len`` items, cut from the end."""
    out = []
    for u, (s, p) in enumerate(zip(seqs, positions)):
        end = len(s)
        while end > 0:
            start = max(0, end - max_len)
            out.append((u, s[start:end], p[start:end]))
            end = start
    return out


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Windows grouped by similar length (less padding), batch order shuffled."""
    jitter = rng.random(len(lengths))
    order = np.lexsort((jitter, lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class GenerativeTask(TrainingTask):
    """Causal next-item training of the built-in generative model, one window batch per step."""

    def __init__(self, model: Any, train: Any, valid: Any | None, sample_weight: np.ndarray | None) -> None:
        import torch

        from recfair.models import torch_kit as tk

        seqs, order = user_sequences(train)
        model.history_ = seqs
        counts = np.bincount(train.user, minlength=train.n_users)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        positions = [order[bounds[u] : bounds[u + 1]] for u in range(train.n_users)]
        self.windows = _windows(seqs, positions, model.max_len)
        self.lengths = np.asarray([len(w[1]) for w in self.windows])
        self.n_examples = len(self.windows)
        self.weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
        self.model, self.net, self.valid = model, model.net_, valid
        vocab = model.vocab_
        self.profiles = vocab.profile_ids(model.users_table_, np.arange(train.n_users))
        self.neutral = torch.tensor([vocab.field_offset(f) for f in vocab.fields], dtype=torch.long)
        self.rng = np.random.default_rng(model.seed)
        self.generator = tk.make_generator(model.seed)

    def param_groups(self) -> list[dict]:
        """Every network parameter in one group (AdamW settings come from the trainer)."""
        return [{"params": list(self.net.parameters())}]

    def start_epoch(self, epoch: int) -> None:
        """Put the network in training mode (dropout on)."""
        self.net.train()

    def batches(self, epoch: int) -> list[np.ndarray]:
        """Window indices grouped by similar length, in an order shuffled by the task's seeded RNG."""
        return _batches(self.lengths, self.model.batch_size, self.rng)

    def _inputs(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Right-padded token ids, targets (-1: none), target weights and users of windows ``b``."""
        vocab = self.model.vocab_
        off, n_fields, plen = vocab.item_offset, len(vocab.fields), vocab.prefix_length
        ws = [self.windows[i] for i in b]
        width = plen + max(len(w[1]) for w in ws) - 1
        ids = np.full((len(ws), width), PAD_ID, dtype=np.int64)
        tgt = np.full((len(ws), width), -1, dtype=np.int64)
        wgt = np.zeros((len(ws), width), dtype=np.float32)
        for r, (u, items, pos) in enumerate(ws):
            m = len(items)
            ids[r, 0], ids[r, plen - 1] = BOS_ID, SEP_ID
            ids[r, 1 : 1 + n_fields] = self.profiles[u]
            ids[r, plen : plen + m - 1] = items[:-1] + off
            tgt[r, plen - 1 : plen - 1 + m] = items
            wgt[r, plen - 1 : plen - 1 + m] = 1.0 if self.weights is None else self.weights[pos]
        return ids, tgt, wgt, np.asarray([w[0] for w in ws])

    def step(self, b: np.ndarray, with_penalty: bool) -> Step:
        """Next-item cross-entropy of every target in windows ``b``, weighted per interaction.

        Profile tokens are swapped for neutral ones at rate ``profile_dropout``; with
        ``with_penalty`` the step carries a :class:`PenaltyBatch` of the targets' logits.
        """
        import torch

        model, net = self.model, self.net
        ids, tgt, wgt, users = self._inputs(b)
        n_fields, off = len(model.vocab_.fields), model.vocab_.item_offset
        ids_t = torch.from_numpy(ids)
        if model.profile_dropout > 0 and n_fields:
            drop = torch.rand((len(b), n_fields), generator=self.generator) < model.profile_dropout
            ids_t[:, 1 : 1 + n_fields] = torch.where(drop, self.neutral.expand(len(b), -1), ids_t[:, 1 : 1 + n_fields])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**31)))  # dropout draws, reproducible per batch
            # right padding: causal attention never lets a real position see a pad
            h = net.transformer(input_ids=ids_t).last_hidden_state
        hs = h[torch.from_numpy(tgt >= 0)]
        targets = torch.from_numpy(tgt[tgt >= 0])
        items_w = net.transformer.wte.weight[off:]
        logits = hs @ items_w.T
        ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        batch = None
        if with_penalty:
            rows = torch.from_numpy(np.repeat(users, (tgt >= 0).sum(axis=1)))
            batch = PenaltyBatch(users=rows, items=targets, predictions=logits.gather(1, targets[:, None])[:, 0],
                                 user_embeddings=hs, item_embeddings=items_w[targets])
        return Step(ce, penalty_batch=batch, weights=torch.from_numpy(wgt[tgt >= 0]), reduction="weighted")

    def validate(self) -> float:
        """nDCG@10 on ``valid`` of the current network (training items excluded)."""
        from recfair.models.torch_kit import ndcg_at_k

        self.net.eval()
        users = np.flatnonzero(np.diff(self.valid.matrix.indptr) > 0)
        recs = self.model.recommend(users, k=10)
        return ndcg_at_k(recs.items, recs.users, self.valid.matrix)

    def state(self) -> dict:
        """The network's ``state_dict``."""
        return self.net.state_dict()

    def load_state(self, state: dict) -> None:
        """Load a ``state_dict`` returned by :meth:`state` into the network."""
        self.net.load_state_dict(state)


def train(model: Any, train: Any, valid: Any | None, *, sample_weight: np.ndarray | None,
          penalty: Penalty | None) -> None:
    """Fit ``model.net_`` in place (see the module docstring); sets the training record on ``model``."""
    threads, progress = model.runtime.threads, model.runtime.progress
    trainer = Trainer(epochs=model.epochs, batch_size=model.batch_size, learning_rate=model.learning_rate,
                      patience=model.patience, optimizer="adamw", weight_decay=model.reg, threads=threads,
                      progress=progress, description="generative")
    validate = valid is not None and valid.n_interactions > 0
    task = GenerativeTask(model, train, valid, sample_weight)
    result = trainer.run(task, train=train, penalty=penalty, validate=validate)
    result.store(model)
    if validate:
        log.info("kept epoch %d (valid nDCG@10 %.4f)", result.best_epoch,
                 max(r["valid"] for r in result.training_log))
