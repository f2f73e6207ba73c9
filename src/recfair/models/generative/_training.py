"""Training loop of :class:`~recfair.models.generative.builtin.GenerativeRecommender`.

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

log = logging.getLogger(__name__)

ITEM_INIT_FILE = "item_init file {path} must be .safetensors (key 'item_embeddings') or .npy; {why}"


def user_sequences(train: Any) -> list[np.ndarray]:
    """Each user's training items, oldest first (ties keep file order)."""
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


def train(model: Any, train: Any, valid: Any | None, *, sample_weight: np.ndarray | None, penalty: Penalty | None) -> None:
    """Fit ``model.net_`` in place (see module docstring)."""
    import torch

    from recfair.models.classic._torch import EarlyStopping, epoch_progress, make_generator, ndcg_at_k, torch_threads

    seqs, order = user_sequences(train)
    model.history_ = seqs
    counts = np.bincount(train.user, minlength=train.n_users)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    positions = [order[bounds[u] : bounds[u + 1]] for u in range(train.n_users)]
    windows = _windows(seqs, positions, model.max_len)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
    vocab, net = model.vocab_, model.net_
    off, n_fields, plen = vocab.item_offset, len(vocab.fields), vocab.prefix_length
    profiles = vocab.profile_ids(model.users_table_, np.arange(train.n_users))
    neutral = torch.tensor([vocab.field_offset(f) for f in vocab.fields], dtype=torch.long)

    rng = np.random.default_rng(model.seed)
    gen = make_generator(model.seed)
    use_penalty = penalty is not None and float(getattr(penalty, "weight", 0.0)) != 0.0
    params = list(net.parameters())
    if use_penalty:
        penalty.bind(train)
        params += list(penalty.parameters())
    opt = torch.optim.AdamW(params, lr=model.learning_rate, weight_decay=model.reg)
    stopper = EarlyStopping(model.patience) if valid is not None and valid.n_interactions else None
    lengths = np.asarray([len(w[1]) for w in windows])
    model.loss_curve_, model.valid_curve_ = [], []

    with torch_threads(model.n_threads), epoch_progress(model.epochs, "generative") as advance:
        for epoch in range(model.epochs):
            net.train()
            total, n_tok = 0.0, 0
            for b in _batches(lengths, model.batch_size, rng):
                ws = [windows[i] for i in b]
                width = plen + max(len(w[1]) for w in ws) - 1
                ids = np.full((len(ws), width), PAD_ID, dtype=np.int64)
                tgt = np.full((len(ws), width), -1, dtype=np.int64)
                wgt = np.zeros((len(ws), width), dtype=np.float32)
                users = np.asarray([w[0] for w in ws])
                for r, (u, items, pos) in enumerate(ws):
                    m = len(items)
                    ids[r, 0], ids[r, plen - 1] = BOS_ID, SEP_ID
                    ids[r, 1 : 1 + n_fields] = profiles[u]
                    ids[r, plen : plen + m - 1] = items[:-1] + off
                    tgt[r, plen - 1 : plen - 1 + m] = items
                    wgt[r, plen - 1 : plen - 1 + m] = 1.0 if weights is None else weights[pos]
                ids_t = torch.from_numpy(ids)
                if model.profile_dropout > 0 and n_fields:
                    drop = torch.rand((len(ws), n_fields), generator=gen) < model.profile_dropout
                    ids_t[:, 1 : 1 + n_fields] = torch.where(drop, neutral.expand(len(ws), -1), ids_t[:, 1 : 1 + n_fields])
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(rng.integers(2**31)))  # dropout draws, reproducible per batch
                    # right padding: causal attention never lets a real position see a pad
                    h = net.transformer(input_ids=ids_t).last_hidden_state
                sel = torch.from_numpy(tgt >= 0)
                hs = h[sel]
                targets = torch.from_numpy(tgt[tgt >= 0])
                w = torch.from_numpy(wgt[tgt >= 0])
                items_w = net.transformer.wte.weight[off:]
                logits = hs @ items_w.T
                ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
                loss = (ce * w).sum() / w.sum().clamp_min(1e-12)
                if use_penalty:
                    rows = torch.from_numpy(np.repeat(users, (tgt >= 0).sum(axis=1)))
                    loss = loss + penalty(
                        PenaltyBatch(
                            users=rows, items=targets, predictions=logits.gather(1, targets[:, None])[:, 0],
                            losses=ce, user_embeddings=hs, item_embeddings=items_w[targets],
                        )
                    )
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(ce.detach().sum())
                n_tok += len(targets)
            info: dict[str, Any] = {"loss": total / max(n_tok, 1)}
            model.loss_curve_.append(info["loss"])
            if stopper is not None:
                net.eval()
                users = np.flatnonzero(np.diff(valid.matrix.indptr) > 0)
                recs = model.recommend(users, k=10)
                value = ndcg_at_k(recs.items, recs.users, valid.matrix)
                info["valid_ndcg@10"] = value
                model.valid_curve_.append(value)
                stop = stopper.step(value, epoch, net.state_dict)
            advance(**info)
            log.info("epoch %d %s", epoch + 1, info)
            if stopper is not None and stop:
                break
    if stopper is not None and stopper.best_state is not None:
        net.load_state_dict(stopper.best_state)
        model.best_epoch_ = stopper.best_epoch
        log.info("restored epoch %d (valid nDCG@10 %.4f)", stopper.best_epoch + 1, stopper.best_value)
    model.train_loss_ = info["loss"]
