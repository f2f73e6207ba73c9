"""``lm-frozen``: a two-tower recommender over frozen sentence embeddings.

Item text and user profile are embedded once by a frozen :class:`TextEncoder`
(cached on disk); only small towers on top are trained:

* item tower  ``q_j = A·x_j + e_j``, bias ``b_j = a·x_j + c_j`` — a projection of
  the item's text embedding ``x_j`` plus a learned id embedding ``e_j`` / bias
  ``c_j`` (zero for items with no training interaction, so new items are scored
  from their text alone);
* user tower ``p_u = B·z_u + mean_{j∈H_u}(A_h·x_j + h_j)`` — a projection of the
  profile text embedding ``z_u`` plus the mean over the user's ``history_window``
  most recent items.

Score ``s(u, j) = p_u·q_j + b_j``.  Training is softmax over the catalogue
(``n_negatives=None``: every trained item is a negative) or sampled softmax with
in-batch negatives plus ``n_negatives`` shared uniform samples.  One example per
training interaction; its history is chosen by ``history_sampling`` (the items
right before it, before a random earlier point, either, or all other items),
history items are dropped with probability ``history_dropout`` (denoising) and id
parts with probability ``id_dropout``.  New users are represented by profile +
observed history; new items by text, then folded in by :meth:`observe`.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recfair.data import text as T
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models import torch_kit as tk
from recfair.models.training import FullBatchTask, Step, Trainer
from recfair.models.lm.embedded import EmbeddedTextRecommender
from recfair.models.lm.history import bags_from_lists, history_bags, history_ends, pool_history, time_ordered_rows
from recfair.models.lm.config import LMFrozenConfig
from recfair.models.lm.task import LMTask

log = logging.getLogger(__name__)

#: the learned id parts of the towers (L2 weight decay ``reg``)
ID_PARAMS = ("item_id", "bias_id", "hist_id")

#: learning rate of the item / user fold-in steps in ``observe``
FOLD_IN_LR = 0.01
#: L2 weight on the id parts fitted by the item fold-in
FOLD_IN_REG = 0.3
#: at most this many observed interactions with known items are the item fold-in's context (its negatives)
FOLD_IN_CONTEXT = 20_000


def fold_in_context(seen, fixed: np.ndarray, size: int, seed) -> tuple[np.ndarray, np.ndarray, float]:
    """``(users, items, weight)``: up to ``size`` pairs of ``seen`` on ``fixed`` items, drawn uniformly
    with ``seed``, and the weight that makes each stand for ``n_all / size`` of them."""
    coo = seen.tocoo()
    keep = fixed[coo.col]
    u, i = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
    if len(u) <= size:
        return u, i, 1.0
    pick = np.sort(np.random.default_rng(seed).choice(len(u), size, replace=False))
    return u[pick], i[pick], len(u) / size


def _logsumexp_rows(p: torch.Tensor, q: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``logsumexp(p @ q.T + b, 1)`` in row chunks (−inf when ``q`` is empty)."""
    if len(q) == 0:
        return torch.full((len(p),), float("-inf"))
    return torch.cat([torch.logsumexp(p[s:s + chunk] @ q.T + b, 1) for s in range(0, len(p), chunk)])


class _Towers(torch.nn.Module):
    def __init__(self, dim: int, d: int, n_items: int, use_item_ids: bool, use_profile: bool,
                 history_norm: str = "mean") -> None:
        super().__init__()
        self.history_norm = history_norm
        self.item_text = torch.nn.Linear(dim, d)
        self.bias_text = torch.nn.Linear(dim, 1)
        self.hist_text = torch.nn.Linear(dim, d, bias=False)
        self.profile = torch.nn.Linear(dim, d) if use_profile else None
        self.use_item_ids = use_item_ids
        if use_item_ids:
            self.item_id = torch.nn.Parameter(torch.zeros(n_items, d))
            self.bias_id = torch.nn.Parameter(torch.zeros(n_items))
            self.hist_id = torch.nn.Parameter(torch.zeros(n_items, d))

    def items(self, x: torch.Tensor, id_mask: torch.Tensor):
        """Item vectors, biases and history vectors of every item."""
        q, b, h = self.item_text(x), self.bias_text(x).squeeze(1), self.hist_text(x)
        if self.use_item_ids:
            m = id_mask.unsqueeze(1)
            q, b, h = q + self.item_id * m, b + self.bias_id * id_mask, h + self.hist_id * m
        return q, b, h

    def users(self, z: torch.Tensor | None, h: torch.Tensor, bags) -> torch.Tensor:
        cols, offsets, counts = bags
        p = pool_history(h, (cols, offsets, counts), self.history_norm)
        if self.profile is not None and z is not None:
            p = p + self.profile(z)
        return p


class _FrozenTask(LMTask):
    """lm-frozen's training for the shared trainer: the towers, one softmax step per batch."""

    def __init__(self, model: "LMFrozenRecommender", train, valid) -> None:
        self.model, self.net, self.valid = model, model.net_, valid
        self.rng = np.random.default_rng(model.seed)
        self.generator = tk.make_generator(model.seed)
        self.x, self.z = torch.from_numpy(model.item_emb_), torch.from_numpy(model.profile_emb_)
        self.trained = torch.from_numpy(model.trained_items_)
        self.trained_idx = np.flatnonzero(model.trained_items_)
        self.users, self.items = train.user.astype(np.int64), train.item.astype(np.int64)
        self.n_examples = len(self.users)
        self.prefix = model.history_sampling in ("prefix", "random-cut", "mixed")
        if self.prefix:  # rows ordered oldest first; each example sees the items before it
            self.indptr, self.indices, self.ranks = time_ordered_rows(train)
        else:
            m = train.matrix
            self.indptr, self.indices, self.ranks = m.indptr.astype(np.int64), m.indices.astype(np.int64), None

    def param_groups(self) -> list[dict]:
        named = list(self.net.named_parameters())
        ids = [p for n, p in named if n in ID_PARAMS]
        rest = [p for n, p in named if n not in ID_PARAMS]
        return [{"params": rest}, {"params": ids, "weight_decay": float(self.model.reg)}]

    def start_epoch(self, epoch: int) -> None:
        self.net.train()

    def _bags(self, u: np.ndarray, t: np.ndarray, idx: np.ndarray):
        m, rng = self.model, self.rng
        if self.prefix:
            ends = history_ends(self.ranks[idx], m.history_sampling, rng, m.cut_max)
            return history_bags(self.indptr, self.indices, u, None, float(m.history_dropout), rng,
                                m.history_window, ends)
        return history_bags(self.indptr, self.indices, u, t, float(m.history_dropout), rng, m.history_window)

    def step(self, idx, with_penalty: bool) -> Step:
        m, rng = self.model, self.rng
        idx = idx.numpy()
        u, t = self.users[idx], self.items[idx]
        bags = self._bags(u, t, idx)
        id_mask = self.trained.float()
        if m.use_item_ids and m.id_dropout > 0:
            id_mask = id_mask * torch.from_numpy(rng.random(m.n_items_) >= m.id_dropout).float()
        q, b, h = self.net.items(self.x, id_mask)
        p = self.net.users(self.z[u], h, bags)
        tt = torch.from_numpy(t)
        if m.n_negatives is None:
            logits = (p @ q.T + b).masked_fill(~self.trained, float("-inf"))
            label = tt
        else:
            neg = self.trained_idx[rng.integers(0, len(self.trained_idx), int(m.n_negatives))]
            cand = np.unique(np.concatenate([t, neg]))
            ct = torch.from_numpy(cand)
            logits = p @ q[ct].T + b[ct]
            label = torch.from_numpy(np.searchsorted(cand, t))
        losses = F.cross_entropy(logits, label, reduction="none")
        batch = None
        if with_penalty:
            pos = logits.gather(1, label.unsqueeze(1)).squeeze(1)
            batch = PenaltyBatch(torch.from_numpy(u), tt, pos, user_embeddings=p, item_embeddings=q[tt])
        return Step(losses, penalty_batch=batch)


class LMFrozenRecommender(EmbeddedTextRecommender):
    """Frozen LM text embeddings + trained two-tower head (``lm-frozen``).

    Parameters
    ----------
    embedding_size, epochs, learning_rate, reg, batch_size, seed:
        The usual; ``reg`` is the L2 weight decay of the id embeddings.
    n_negatives:
        ``None``: softmax over every trained item; an int: sampled softmax over
        the batch's positives plus that many shared uniform negatives.
    history_sampling:
        ``"prefix"``: a training example sees the user's items before it in time
        (next-item training, matching temporal evaluation); ``"random-cut"``: the
        items before a uniformly drawn earlier point (any later item is a target,
        as for a new user's whole future); ``"mixed"``: each example one of the two
        with probability 1/2; ``"leave-one-out"``: all the user's other training items.
    cut_max:
        Random cuts (``"random-cut"``, ``"mixed"``) fall within the first ``cut_max``
        items of the user's row: the history is then the user's first few items and
        the target any later one — new users known by their first interactions,
        simulated from the training users.  ``None``: anywhere in the row (best for
        warm users only).
    history_window:
        Use only the user's most recent ``history_window`` items (``None``: all).
    history_norm:
        Pool the history by its mean (``"mean"``) or its sum over ``sqrt(n)`` (``"sqrt"``).
    history_dropout, id_dropout:
        Training-time dropout of history items and of item-id parts.
    use_item_ids, use_profile:
        Switch the learned id embeddings / the profile pathway off.
    fold_in_epochs:
        Adam steps (learning rate 0.01) fitting the id parts of new items in :meth:`observe`.
    warm_start:
        A later ``fit`` continues from the current tower weights instead of a fresh
        initialisation (the simulator's periodic re-fine-tuning).
    patience:
        Epochs without validation nDCG@10 improvement before stopping (with ``valid``).
    encoder, encoder_batch_size:
        Text model folder (``None``: all-MiniLM-L6-v2) and its batch size.
    user_fields, max_history, item_template, user_template:
        How users and items are rendered as text (:mod:`recfair.data.text`).

    Examples
    --------
    >>> from recfair.models.registry import create_model            # doctest: +SKIP
    >>> m = create_model("lm-frozen", epochs=20).fit(split.train)    # doctest: +SKIP
    >>> m.recommend(k=10)                                             # doctest: +SKIP
    """

    name = "lm-frozen"
    Config = LMFrozenConfig

    # ------------------------------------------------------------------ fit
    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        self._start_embedded_fit(train, sample_weight)
        self.net_ = self._build_net()
        threads, progress = self.runtime.threads, self.runtime.progress
        trainer = Trainer(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                          patience=self.patience, threads=threads, progress=progress, description=type(self).__name__)
        trainer.run(_FrozenTask(self, train, valid), train=train, sample_weight=sample_weight, penalty=penalty,
                    validate=valid is not None).store(self)
        return self

    def _build_net(self) -> _Towers:
        old = getattr(self, "net_", None)
        if self.warm_start and old is not None and old.item_text.in_features == self.item_emb_.shape[1] \
                and (not old.use_item_ids or old.item_id.shape == (self.n_items_, self.embedding_size)):
            return old  # warm start: continue from the current weights (periodic re-fine-tuning)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return _Towers(self.item_emb_.shape[1], self.embedding_size, self.n_items_,
                           bool(self.use_item_ids), bool(self.use_profile), self.history_norm)

    # ---------------------------------------------------------------- score
    def _refresh(self) -> None:
        """Cache item-side outputs for scoring (after training or loading)."""
        self.net_.eval()
        with torch.no_grad():
            q, b, h = self.net_.items(torch.from_numpy(self.item_emb_), torch.from_numpy(self.id_items_).float())
        self._q, self._b, self._h = q, b, h

    def _user_vectors(self, z: torch.Tensor | None, users: np.ndarray | None, n: int) -> torch.Tensor:
        if users is None:
            bags = (torch.zeros(0, dtype=torch.int64), torch.zeros(n, dtype=torch.int64), torch.zeros(n))
        else:
            bags = self._known_bags(users, self.history_window)
        with torch.no_grad():
            return self.net_.users(z, self._h, bags)

    def _score_known(self, users: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(self.profile_emb_[users])
        p = self._user_vectors(z, users, len(users))
        return (p @ self._q.T + self._b).numpy()

    def _fold_in_items(self, items: np.ndarray, users: np.ndarray, positives: np.ndarray) -> None:
        """Fit ``e_j``, ``c_j`` of new items by softmax over the known items, users and the rest fixed.

        The examples are the new items' pairs plus :func:`fold_in_context` — the
        interactions with known items observed since training (the same period) — so a
        new item is pushed down for the users who picked other items meanwhile and ends up
        scored like an item picked as often, not above the whole catalogue.
        """
        if not self.use_item_ids or self.fold_in_epochs == 0:
            return
        fixed = self.id_items_ & ~np.isin(np.arange(self.n_items_), items)
        observed = getattr(self, "observed_", None)
        observed = self.seen_[:0] if observed is None else observed
        cu, ci, cw = fold_in_context(observed, fixed, FOLD_IN_CONTEXT, [int(self.seed), int(observed.nnz)])
        n_pos, rows = len(users), np.concatenate([users, cu]).astype(np.int64)
        uu, inv = np.unique(rows, return_inverse=True)
        p = self._user_vectors(torch.from_numpy(self.profile_emb_[uu]), uu, len(uu))[torch.from_numpy(inv)]
        it, col = torch.from_numpy(items.astype(np.int64)), torch.from_numpy(np.searchsorted(items, positives))
        with torch.no_grad():  # text-only base of the new items; the fixed items' share of every softmax
            x = torch.from_numpy(self.item_emb_[items])
            q0, b0 = self.net_.item_text(x), self.net_.bias_text(x).squeeze(1)
            f = torch.from_numpy(np.flatnonzero(fixed))
            rest = _logsumexp_rows(p, self._q[f], self._b[f])
            ctx_target = (p[n_pos:] * self._q[torch.from_numpy(ci)]).sum(1) + self._b[torch.from_numpy(ci)]
        weights = torch.cat([torch.ones(n_pos), torch.full((len(cu),), cw)]) * (len(rows) / n_pos)
        e = torch.nn.Parameter(torch.zeros(len(items), self._q.shape[1]))
        c = torch.nn.Parameter(torch.zeros(len(items)))

        def step() -> Step:  # full softmax (fixed items pre-summed); nothing random
            logits = p @ (q0 + e).T + (b0 + c)
            target = torch.cat([logits[:n_pos].gather(1, col.unsqueeze(1)).squeeze(1), ctx_target])
            return Step(torch.logaddexp(rest, torch.logsumexp(logits, 1)) - target,
                        FOLD_IN_REG * ((e ** 2).sum(1).mean() + (c ** 2).mean()), weights=weights)

        Trainer(epochs=int(self.fold_in_epochs), batch_size=None, learning_rate=FOLD_IN_LR, progress=False,
                description="item fold-in").run(FullBatchTask([e, c], step, len(rows)))
        with torch.no_grad():
            self.net_.item_id[it] = e.detach()
            self.net_.bias_id[it] = c.detach()
        self.folded_items_[items] = True
        self._refresh()

    def _score_texts(self, user_texts: Sequence[str], users: np.ndarray | None = None) -> np.ndarray:
        """Scores from user (profile) texts; with ``users``, their known history is added."""
        texts, users = self._check_texts(user_texts, users)
        z = torch.from_numpy(self._text_encoder().encode(texts)) if texts else torch.zeros(0, self.item_emb_.shape[1])
        p = self._user_vectors(z, users, len(texts))
        return (p @ self._q.T + self._b).numpy().astype(np.float32)

    def _score_new(self, phrases: list[list[str]], items: list[np.ndarray]) -> np.ndarray:
        """Profile text → ``B·z``; the history items pooled like a known user's (most recent ``history_window``)."""
        texts = [T.format_user(p, [], template=self.user_template) for p in phrases]
        z = torch.from_numpy(self._text_encoder().encode(texts)) if texts else torch.zeros(0, self.item_emb_.shape[1])
        with torch.no_grad():
            p = self.net_.users(z, self._h, bags_from_lists(items, self.history_window))
        return (p @ self._q.T + self._b).numpy()

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        """The user-tower output ``p_u`` (what attribute-leakage probes read)."""
        users = self._check_users(users)
        return self._user_vectors(torch.from_numpy(self.profile_emb_[users]), users, len(users)).numpy()
