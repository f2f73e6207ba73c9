"""``lm-hybrid``: BPR matrix factorisation anchored on language-model item embeddings.

``x(u, j) = p_u·q_j + b_j`` trained with BPR, but every item factor is tied to its
text: ``q_j = W·x_j + δ_j`` and ``b_j = w·x_j + c_j``, where ``x_j`` is the frozen
text embedding of the item, ``W`` starts as the top-``embedding_size`` principal
directions of the item embeddings (so ``q`` is *initialised from* the projected
LM embeddings) and the L2 penalty ``reg_lm·‖δ_j‖²`` keeps the factors close to
them (*regularised towards* ``W·x_j``; ``W`` is learned jointly).  Items with no
training interaction keep ``δ_j = 0``: they are scored from their text alone
until :meth:`observe` folds them in.

The user factor is ``p_u = P_u + mean_{j∈H_u}(W_h·x_j + δʰ_j) [+ B·z_u]``: a free
factor, a history term over the ``history_window`` most recent items (FISM /
SVD++ style, its item vectors tied to text the same way; ``history_window=None``
removes it) and, with ``use_profile``, a projection of the profile text embedding
(what a counterfactual probe flips).  Training examples see the history before
them (``history_sampling``, as for ``lm-frozen``).  A new user is represented by the
history term over the interactions passed to :meth:`observe`; without a history
term ``P_u`` is folded in (BPR on those interactions, item side fixed).
``text_prior=False`` is the ablation without any language model.
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
from recfair.models.lm.config import LMHybridConfig
from recfair.models.lm.task import LMTask

log = logging.getLogger(__name__)


def sample_negatives(users: torch.Tensor, keys: torch.Tensor, pool: torch.Tensor, n_items: int, g) -> torch.Tensor:
    """One item per user drawn uniformly from ``pool``, redrawn (≤ 20 times) if the user saw it."""
    neg = pool[torch.randint(len(pool), users.shape, generator=g)]
    for _ in range(20):
        q = users * n_items + neg
        pos = torch.searchsorted(keys, q).clamp_(max=max(len(keys) - 1, 0))
        bad = torch.nonzero(keys[pos] == q).squeeze(1)
        if bad.numel() == 0:
            break
        neg[bad] = pool[torch.randint(len(pool), bad.shape, generator=g)]
    return neg


class _Hybrid(torch.nn.Module):
    def __init__(self, x: np.ndarray, n_users: int, d: int, use_profile: bool, use_history: bool,
                 g: torch.Generator, text_prior: bool = True, history_norm: str = "mean") -> None:
        super().__init__()
        self.history_norm = history_norm
        xc = x - x.mean(0, keepdims=True)
        _, sv, vt = np.linalg.svd(xc, full_matrices=False)
        k = min(d, vt.shape[0])
        w = np.zeros((d, x.shape[1]), dtype=np.float32)
        w[:k] = vt[:k]
        proj = xc @ w.T
        w *= 0.1 / max(float(proj[:, :k].std()), 1e-8)  # factors start at the scale of a BPR init (std 0.1)
        self.W = torch.nn.Parameter(torch.from_numpy(w))
        self.W_h = torch.nn.Parameter(torch.from_numpy(w.copy())) if use_history else None
        self.delta_h = torch.nn.Parameter(torch.zeros(x.shape[0], d)) if use_history else None
        self.w_bias = torch.nn.Parameter(torch.zeros(x.shape[1]))
        self.delta = torch.nn.Parameter(torch.zeros(x.shape[0], d))
        self.c = torch.nn.Parameter(torch.zeros(x.shape[0]))
        p = torch.empty(n_users, d)
        p.normal_(0.0, 0.1, generator=g)
        self.P = torch.nn.Parameter(p)
        self.B = torch.nn.Parameter(torch.zeros(d, x.shape[1])) if use_profile else None
        if not text_prior:  # ablation: plain free factors (random init), no text pathway at all
            for w_ in (self.W, self.W_h, self.w_bias):
                if w_ is not None:
                    w_.data.zero_()
                    w_.requires_grad_(False)
            for free in (self.delta, self.delta_h):
                if free is not None:
                    free.data.normal_(0.0, 0.1, generator=g)

    def items(self, x: torch.Tensor, mask: torch.Tensor):
        q = x @ self.W.T + self.delta * mask.unsqueeze(1)
        b = x @ self.w_bias + self.c * mask
        return q, b

    def history_items(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        if self.W_h is None:
            return None
        return x @ self.W_h.T + self.delta_h * mask.unsqueeze(1)

    def users(self, users: torch.Tensor | None, z: torch.Tensor | None, n: int, y=None, bags=None) -> torch.Tensor:
        p = self.P[users] if users is not None else torch.zeros(n, self.P.shape[1])
        if self.B is not None and z is not None:
            p = p + z @ self.B.T
        if y is not None and bags is not None:
            p = p + pool_history(y, bags, self.history_norm)
        return p


class _HybridTask(LMTask):
    """lm-hybrid's training for the shared trainer: BPR steps, negatives drawn once per epoch."""

    def __init__(self, model: "LMHybridRecommender", train, valid, g: torch.Generator) -> None:
        self.model, self.net, self.valid, self.generator = model, model.net_, valid, g
        self.x, self.z = torch.from_numpy(model.item_emb_), torch.from_numpy(model.profile_emb_)
        self.mask = torch.from_numpy(model.trained_items_).float()
        self.pool = torch.from_numpy(np.flatnonzero(model.trained_items_).astype(np.int64))
        self.keys = torch.from_numpy(tk.interaction_keys(train.matrix))
        if model.history_window is not None:
            self.rows_indptr, self.rows_items, self.ranks = time_ordered_rows(train)
            self.rng = np.random.default_rng(model.seed)
        self.users = torch.from_numpy(train.user.astype(np.int64))
        self.items = torch.from_numpy(train.item.astype(np.int64))
        self.n_examples = len(self.users)

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.net.parameters() if p.requires_grad]}]

    def start_epoch(self, epoch: int) -> None:
        self.negatives = sample_negatives(self.users, self.keys, self.pool, self.model.n_items_, self.generator)

    def step(self, idx, with_penalty: bool) -> Step:
        m = self.model
        u, i, j = self.users[idx], self.items[idx], self.negatives[idx]
        bags = None
        if m.history_window is not None:
            ends = history_ends(self.ranks[idx.numpy()], m.history_sampling, self.rng)
            bags = history_bags(self.rows_indptr, self.rows_items, u.numpy(), None, 0.0, None, m.history_window, ends)
        losses, reg, p, q, x_ui, x_uj = m._loss_terms(u, i, j, self.x, self.z, self.mask, bags)
        batch = None
        if with_penalty:
            batch = PenaltyBatch(u, i, x_ui, user_embeddings=p, item_embeddings=q[i],
                                 negative_predictions=x_uj, negative_items=j)
        return Step(losses, reg, batch)


class LMHybridRecommender(EmbeddedTextRecommender):
    """BPR-MF whose item factors are initialised from and regularised towards LM item embeddings.

    Parameters
    ----------
    embedding_size, epochs, learning_rate, reg, batch_size, seed:
        The usual; ``reg`` is the L2 weight of ``p_u``, ``c_j`` (and ``B``).
    reg_lm:
        L2 weight of ``δ_j = q_j − W·x_j`` (how strongly factors stay on their text).
    use_profile:
        Add the projected profile text embedding to the user factor.
    lr_decay:
        Decay the learning rate linearly to 0 over the epochs (a stable final model).
    text_prior:
        ``False`` is the ablation without any language model: free item factors
        (random init, L2 ``reg_lm``), no text projection (cannot score new items).
    fold_in_epochs:
        Optimisation steps when folding in cold-start users in :meth:`observe`.
    patience:
        Epochs without validation nDCG@10 improvement before stopping (with ``valid``).
    encoder, encoder_batch_size, user_fields, max_history, item_template, user_template:
        Text model and rendering (as for ``lm-frozen``).

    Examples
    --------
    >>> from recfair.models.registry import create_model               # doctest: +SKIP
    >>> m = create_model("lm-hybrid").fit(split.train)                  # doctest: +SKIP
    """

    name = "lm-hybrid"
    Config = LMHybridConfig

    # ------------------------------------------------------------------ fit
    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        self._start_embedded_fit(train, sample_weight)
        g = tk.make_generator(self.seed)
        self.net_ = self._build_net(g)
        threads, progress = self.runtime.threads, self.runtime.progress
        trainer = Trainer(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                          patience=self.patience, lr_decay=bool(self.lr_decay), threads=threads, progress=progress,
                          description=type(self).__name__)
        trainer.run(_HybridTask(self, train, valid, g), train=train, sample_weight=sample_weight, penalty=penalty,
                    validate=valid is not None).store(self)
        return self

    def _build_net(self, g: torch.Generator | None = None) -> "_Hybrid":
        """The network for the current embeddings, initialised from ``g`` (default: seed 0)."""
        g = torch.Generator().manual_seed(0) if g is None else g
        return _Hybrid(self.item_emb_, self.n_users_, self.embedding_size, bool(self.use_profile),
                       self.history_window is not None, g, bool(self.text_prior), self.history_norm)

    def _loss_terms(self, u, i, j, x, z, mask, bags):
        net = self.net_
        q, b = net.items(x, mask)
        p = net.users(u, z[u], len(u), net.history_items(x, mask), bags)
        x_ui = (p * q[i]).sum(1) + b[i]
        x_uj = (p * q[j]).sum(1) + b[j]
        losses = F.softplus(x_uj - x_ui)
        reg = self.reg * ((net.P[u] ** 2).sum(1) + net.c[i] ** 2 + net.c[j] ** 2).mean()
        reg = reg + self.reg_lm * ((net.delta[i] ** 2).sum(1) + (net.delta[j] ** 2).sum(1)).mean()
        if net.delta_h is not None:
            reg = reg + self.reg_lm * (net.delta_h[bags[0]] ** 2).sum() / max(len(u), 1)
        return losses, reg, p, q, x_ui, x_uj

    # --------------------------------------------------------- cold users
    def _after_observe(self, users: np.ndarray) -> None:
        """Fold in users with no training interaction from their observed history (BPR, items fixed)."""
        cold = users[~self.trained_users_[users]]
        if cold.size == 0 or self.fold_in_epochs == 0 or self.history_window is not None:
            # with a history term the observed items already shape the user; P_u stays 0
            return
        rows = [np.full(len(self.history_of(int(u))), u) for u in cold]
        u_all = torch.from_numpy(np.concatenate(rows).astype(np.int64))
        i_all = torch.from_numpy(np.concatenate([self.history_of(int(u)) for u in cold]).astype(np.int64))
        keys = torch.from_numpy(tk.interaction_keys(self.seen_))
        pool = torch.from_numpy(np.flatnonzero(self.id_items_).astype(np.int64))
        g = torch.Generator().manual_seed(int(self.seed) + 1)
        net = self.net_
        q, b = self._q, self._b
        with torch.no_grad():  # the fixed part of the user vector: profile and history terms
            z = torch.from_numpy(self.profile_emb_[cold])
            bags = self._known_bags(cold, self.history_window) if self._y is not None else None
            fixed = net.users(None, z, len(cold), self._y, bags)
        pc = torch.nn.Parameter(torch.zeros(len(cold), net.P.shape[1]))
        pos_of = {int(u): r for r, u in enumerate(cold)}
        r_all = torch.tensor([pos_of[int(u)] for u in u_all.tolist()], dtype=torch.int64)

        def step() -> Step:  # BPR over the observed pairs, fresh negatives each step
            j = sample_negatives(u_all, keys, pool, self.n_items_, g)
            p = pc[r_all] + fixed[r_all]
            x_ui = (p * q[i_all]).sum(1) + b[i_all]
            x_uj = (p * q[j]).sum(1) + b[j]
            return Step(F.softplus(x_uj - x_ui), self.reg * (pc[r_all] ** 2).sum(1).mean())

        self._fold_in([pc], step, len(u_all), "user fold-in")
        with torch.no_grad():
            net.P[torch.from_numpy(cold.astype(np.int64))] = pc.detach()
        log.info("folded in %d cold-start users", len(cold))

    def _fold_in_items(self, items: np.ndarray, users: np.ndarray, positives: np.ndarray) -> None:
        """Fit ``δ_j``, ``c_j`` of new items by BPR on their observed pairs, everything else fixed.

        Negatives are drawn from every known item *including the new ones*, so a new
        item is pushed down for users who did not pick it and its bias ends up
        reflecting how often it was picked (as in BPR training).
        """
        if self.fold_in_epochs == 0 or not self.text_prior:
            return
        uu, inv = np.unique(users, return_inverse=True)
        with torch.no_grad():
            p = torch.from_numpy(self._scores_vectors(uu))[torch.from_numpy(inv)]
        u_t, j_t = torch.from_numpy(users), torch.from_numpy(positives)
        it = torch.from_numpy(items.astype(np.int64))
        keys = torch.from_numpy(tk.interaction_keys(self.seen_))
        pool = torch.from_numpy(np.flatnonzero(self.id_items_ | np.isin(np.arange(self.n_items_), items)).astype(np.int64))
        g = torch.Generator().manual_seed(int(self.seed) + 2)
        dn = torch.nn.Parameter(torch.zeros(len(items), self._q.shape[1]))
        cn = torch.nn.Parameter(torch.zeros(len(items)))

        def step() -> Step:  # BPR over the new items' pairs, fresh negatives each step
            k = sample_negatives(u_t, keys, pool, self.n_items_, g)
            q = self._q.index_add(0, it, dn)
            b = self._b.index_add(0, it, cn)
            x_uj = (p * q[j_t]).sum(1) + b[j_t]
            x_uk = (p * q[k]).sum(1) + b[k]
            return Step(F.softplus(x_uk - x_uj), self.reg * ((dn ** 2).sum(1).mean() + (cn ** 2).mean()))

        self._fold_in([dn, cn], step, len(u_t), "item fold-in")
        with torch.no_grad():
            self.net_.delta[it] = dn.detach()
            self.net_.c[it] = cn.detach()
        self.folded_items_[items] = True
        self._refresh()

    def _fold_in(self, params: list[torch.Tensor], step, n: int, description: str) -> None:
        """``fold_in_epochs`` full-batch Adam steps of ``step`` on ``params`` (the shared trainer)."""
        Trainer(epochs=int(self.fold_in_epochs), batch_size=None, learning_rate=float(self.learning_rate),
                progress=False, description=description).run(FullBatchTask(params, step, n))

    # ---------------------------------------------------------------- score
    def _refresh(self) -> None:
        with torch.no_grad():
            x, mask = torch.from_numpy(self.item_emb_), torch.from_numpy(self.id_items_).float()
            self._q, self._b = self.net_.items(x, mask)
            self._y = self.net_.history_items(x, mask)

    def _user_vecs(self, users: np.ndarray | None, z: torch.Tensor | None, n: int, bags=None) -> torch.Tensor:
        """``p_u`` of known ``users`` (free factor + their known history) or, with ``users=None``,
        of new users from ``z`` and explicit history ``bags``."""
        with torch.no_grad():
            u = torch.from_numpy(users.astype(np.int64)) if users is not None else None
            if self._y is not None and users is not None:
                bags = self._known_bags(users, self.history_window)
            return self.net_.users(u, z, n, self._y if bags is not None else None, bags)

    def _scores_vectors(self, users: np.ndarray) -> np.ndarray:
        """``p_u`` of known users (what attribute-leakage probes read)."""
        return self._user_vecs(users, torch.from_numpy(self.profile_emb_[users]), len(users)).numpy()

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        """The user factors ``p_u`` (free factor + history term [+ profile])."""
        return self._scores_vectors(self._check_users(users))

    def _scores(self, users: np.ndarray | None, z: torch.Tensor | None, n: int, bags=None) -> np.ndarray:
        with torch.no_grad():
            p = self._user_vecs(users, z, n, bags)
            return (p @ self._q.T + self._b).numpy().astype(np.float32)

    def _score_new(self, phrases: list[list[str]], items: list[np.ndarray]) -> np.ndarray:
        """No free factor: the history term over the given items (+ the profile with ``use_profile``)."""
        texts = [T.format_user(p, [], template=self.user_template) for p in phrases]
        z = torch.from_numpy(self._text_encoder().encode(texts)) if texts and self.use_profile else None
        bags = bags_from_lists(items, self.history_window) if self._y is not None else None
        return self._scores(None, z, len(texts), bags)

    def _score_known(self, users: np.ndarray) -> np.ndarray:
        return self._scores(users, torch.from_numpy(self.profile_emb_[users]), len(users))

    def _score_texts(self, user_texts: Sequence[str], users: np.ndarray | None = None) -> np.ndarray:
        """Scores from profile texts (``B·z``); with ``users`` their learned ``P_u`` is added."""
        texts, users = self._check_texts(user_texts, users)
        z = torch.from_numpy(self._text_encoder().encode(texts)) if texts else None
        return self._scores(users, z, len(texts))
