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
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recfair.data import text as T
from recfair.errors import check_nonneg_float, check_param
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.lm.common import LMRecommender, bags_from_lists, history_bags, history_ends, pool_history, time_ordered_rows

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


def _keys(m) -> torch.Tensor:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    k = rows * m.shape[1] + m.indices.astype(np.int64)
    k.sort()
    return torch.from_numpy(k)


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


class LMHybridRecommender(LMRecommender):
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
    threads:
        Torch intra-op threads while fitting and scoring (``None``: torch's setting).
    encoder, encoder_batch_size, user_fields, max_history, item_template, user_template:
        Text model and rendering (as for ``lm-frozen``).

    Examples
    --------
    >>> from recfair.models.registry import create_model               # doctest: +SKIP
    >>> m = create_model("lm-hybrid").fit(split.train)                  # doctest: +SKIP
    """

    name = "lm-hybrid"
    history_in_text = False

    def __init__(
        self,
        embedding_size: int = 64,
        epochs: int = 30,
        learning_rate: float = 0.01,
        reg: float = 0.01,
        reg_lm: float = 0.0001,
        batch_size: int = 4096,
        use_profile: bool = False,
        history_window: int | None = 10,
        history_sampling: str = "mixed",
        history_norm: str = "mean",
        lr_decay: bool = True,
        text_prior: bool = True,
        fold_in_epochs: int = 100,
        patience: int = 5,
        seed: int = 0,
        threads: int | None = 1,
        encoder: str | None = None,
        encoder_batch_size: int = 64,
        user_fields: Sequence[str] = T.DEFAULT_USER_FIELDS,
        max_history: int = T.DEFAULT_MAX_HISTORY,
        item_template: str = T.DEFAULT_ITEM_TEMPLATE,
        user_template: str = T.DEFAULT_USER_TEMPLATE,
        progress: bool = True,
    ) -> None:
        self.embedding_size = embedding_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.reg = reg
        self.reg_lm = reg_lm
        self.batch_size = batch_size
        self.use_profile = use_profile
        self.history_window = history_window
        self.history_sampling = history_sampling
        self.history_norm = history_norm
        self.lr_decay = lr_decay
        self.text_prior = text_prior
        self.fold_in_epochs = fold_in_epochs
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.encoder = encoder
        self.encoder_batch_size = encoder_batch_size
        self.user_fields = list(user_fields)  # lists round-trip through JSON unchanged
        self.max_history = max_history
        self.item_template = item_template
        self.user_template = user_template
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def _fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        from recfair.models.classic import _torch as tu

        owner = type(self).__name__
        check_nonneg_float(self.reg, "reg", owner)
        check_nonneg_float(self.reg_lm, "reg_lm", owner)
        check_param(self.history_sampling, "history_sampling", owner, "one of prefix, random-cut, mixed",
                    self.history_sampling in ("prefix", "random-cut", "mixed"))
        check_param(self.history_norm, "history_norm", owner, "'mean' or 'sqrt'", self.history_norm in ("mean", "sqrt"))
        check_param(self.fold_in_epochs, "fold_in_epochs", owner, "a non-negative int",
                    isinstance(self.fold_in_epochs, int) and not isinstance(self.fold_in_epochs, bool)
                    and self.fold_in_epochs >= 0)
        self._start_lm_fit(train, sample_weight)
        enc = self._text_encoder()
        self.item_emb_ = enc.encode(self.item_texts_)
        self.profile_emb_ = enc.encode(self.profile_texts_)
        g = tu.make_generator(self.seed)
        self.net_ = _Hybrid(self.item_emb_, self.n_users_, self.embedding_size, bool(self.use_profile),
                            self.history_window is not None, g, bool(self.text_prior), self.history_norm)
        use_penalty = penalty is not None and float(penalty.weight) != 0.0
        self._train(train, valid, sample_weight, penalty if use_penalty else None, g, tu)
        return self

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

    def _train(self, train, valid, sample_weight, penalty, g, tu) -> None:
        net = self.net_
        x, z = torch.from_numpy(self.item_emb_), torch.from_numpy(self.profile_emb_)
        mask = torch.from_numpy(self.trained_items_).float()
        pool = torch.from_numpy(np.flatnonzero(self.trained_items_).astype(np.int64))
        keys = _keys(train.matrix)
        if self.history_window is not None:
            rows_indptr, rows_items, ranks = time_ordered_rows(train)
            rng = np.random.default_rng(self.seed)
        users_all = torch.from_numpy(train.user.astype(np.int64))
        items_all = torch.from_numpy(train.item.astype(np.int64))
        weights = torch.ones(len(users_all)) if sample_weight is None else torch.as_tensor(
            np.asarray(sample_weight, dtype=np.float32))
        groups = [{"params": [p for p in net.parameters() if p.requires_grad]}]
        if penalty is not None:
            penalty.bind(train)
            extra = list(penalty.parameters())
            if extra:
                groups.append({"params": extra})
        opt = torch.optim.Adam(groups, lr=float(self.learning_rate))
        n_steps = self.epochs * ((len(users_all) + self.batch_size - 1) // self.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, (lambda s: max(0.0, 1.0 - s / n_steps)) if self.lr_decay else (lambda s: 1.0))
        stopper = tu.EarlyStopping(self.patience) if valid is not None else None
        self.history_log_: list[dict] = []
        t0 = time.perf_counter()
        with tu.epoch_progress(self.epochs, type(self).__name__, self.progress) as advance:
            for epoch in range(1, self.epochs + 1):
                negs = sample_negatives(users_all, keys, pool, self.n_items_, g)
                total = 0.0
                for idx in tu.shuffled_batches(len(users_all), self.batch_size, g):
                    u, i, j = users_all[idx], items_all[idx], negs[idx]
                    bags = None
                    if self.history_window is not None:
                        ends = history_ends(ranks[idx.numpy()], self.history_sampling, rng)
                        bags = history_bags(rows_indptr, rows_items, u.numpy(), None, 0.0, None,
                                            self.history_window, ends)
                    losses, reg, p, q, x_ui, x_uj = self._loss_terms(u, i, j, x, z, mask, bags)
                    w = weights[idx]
                    loss = (losses * w).mean() + reg
                    if penalty is not None:
                        batch = PenaltyBatch(u, i, x_ui, losses=losses * w, user_embeddings=p,
                                             item_embeddings=q[i], negative_predictions=x_uj, negative_items=j)
                        loss = loss + penalty(batch)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(idx)
                self._refresh()
                record = {"epoch": epoch, "loss": total / len(users_all), "seconds": time.perf_counter() - t0}
                stop = False
                if stopper is not None:
                    record["valid_ndcg@10"] = self._valid_ndcg(valid)
                    stop = stopper.step(record["valid_ndcg@10"], epoch, net.state_dict)
                self.history_log_.append(record)
                advance(**{k: v for k, v in record.items() if k not in ("epoch", "seconds")})
                if stop:
                    break
        self.best_epoch_ = len(self.history_log_)
        if stopper is not None and stopper.best_state is not None:
            net.load_state_dict(stopper.best_state)
            self.best_epoch_ = stopper.best_epoch
        self._refresh()

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
        keys = _keys(self.seen_)
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
        opt = torch.optim.Adam([pc], lr=float(self.learning_rate))
        for _ in range(int(self.fold_in_epochs)):
            j = sample_negatives(u_all, keys, pool, self.n_items_, g)
            p = pc[r_all] + fixed[r_all]
            x_ui = (p * q[i_all]).sum(1) + b[i_all]
            x_uj = (p * q[j]).sum(1) + b[j]
            loss = F.softplus(x_uj - x_ui).mean() + self.reg * (pc[r_all] ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
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
        keys = _keys(self.seen_)
        pool = torch.from_numpy(np.flatnonzero(self.id_items_ | np.isin(np.arange(self.n_items_), items)).astype(np.int64))
        g = torch.Generator().manual_seed(int(self.seed) + 2)
        dn = torch.nn.Parameter(torch.zeros(len(items), self._q.shape[1]))
        cn = torch.nn.Parameter(torch.zeros(len(items)))
        opt = torch.optim.Adam([dn, cn], lr=float(self.learning_rate))
        for _ in range(int(self.fold_in_epochs)):
            k = sample_negatives(u_t, keys, pool, self.n_items_, g)
            q = self._q.index_add(0, it, dn)
            b = self._b.index_add(0, it, cn)
            x_uj = (p * q[j_t]).sum(1) + b[j_t]
            x_uk = (p * q[k]).sum(1) + b[k]
            loss = F.softplus(x_uk - x_uj).mean() + self.reg * ((dn ** 2).sum(1).mean() + (cn ** 2).mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            self.net_.delta[it] = dn.detach()
            self.net_.c[it] = cn.detach()
        self.folded_items_[items] = True
        self._refresh()

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

    # ---------------------------------------------------------------- state
    def _get_model_state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().numpy() for k, v in self.net_.state_dict().items()}
        state["item_emb"], state["profile_emb"] = self.item_emb_, self.profile_emb_
        return state

    def _set_model_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_emb_, self.profile_emb_ = state["item_emb"], state["profile_emb"]
        self.net_ = _Hybrid(self.item_emb_, self.n_users_, self.embedding_size, bool(self.use_profile),
                            self.history_window is not None, torch.Generator().manual_seed(0), bool(self.text_prior),
                            self.history_norm)
        self.net_.load_state_dict({k[4:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("net.")})
        self._refresh()
