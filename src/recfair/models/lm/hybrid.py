"""``lm-hybrid``: BPR matrix factorisation anchored on language-model item embeddings.

``x(u, j) = p_u·q_j + b_j`` as in BPR-MF, but every item factor is tied to its
text: ``q_j = W·x_j + δ_j`` and ``b_j = w·x_j + c_j``, where ``x_j`` is the frozen
text embedding of the item, ``W`` starts as the top-``embedding_size`` principal
directions of the item embeddings (so ``q`` is *initialised from* the projected
LM embeddings) and the L2 penalty ``reg_lm·‖δ_j‖²`` keeps the factors close to
them (*regularised towards* ``W·x_j``; ``W`` is learned jointly).  Items with no
training interaction keep ``δ_j = 0``: they are scored from their text alone.
With ``use_profile`` the user factor also gets a projection of the profile text
embedding, ``p_u = P_u + B·z_u``, which is what a counterfactual probe flips.

Cold-start users (no training interaction) are folded in when their first
interactions are passed to :meth:`observe`: ``P_u`` is fitted with the same BPR
loss on those interactions while every item-side parameter stays fixed.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recfair.data import text as T
from recfair.errors import check_nonneg_float, check_positive_int
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.lm.common import LMRecommender

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
    def __init__(self, x: np.ndarray, n_users: int, d: int, use_profile: bool, g: torch.Generator) -> None:
        super().__init__()
        xc = x - x.mean(0, keepdims=True)
        _, sv, vt = np.linalg.svd(xc, full_matrices=False)
        k = min(d, vt.shape[0])
        w = np.zeros((d, x.shape[1]), dtype=np.float32)
        w[:k] = vt[:k]
        proj = xc @ w.T
        w *= 0.1 / max(float(proj[:, :k].std()), 1e-8)  # factors start at the scale of a BPR init (std 0.1)
        self.W = torch.nn.Parameter(torch.from_numpy(w))
        self.w_bias = torch.nn.Parameter(torch.zeros(x.shape[1]))
        self.delta = torch.nn.Parameter(torch.zeros(x.shape[0], d))
        self.c = torch.nn.Parameter(torch.zeros(x.shape[0]))
        p = torch.empty(n_users, d)
        p.normal_(0.0, 0.1, generator=g)
        self.P = torch.nn.Parameter(p)
        self.B = torch.nn.Parameter(torch.zeros(d, x.shape[1])) if use_profile else None

    def items(self, x: torch.Tensor, mask: torch.Tensor):
        q = x @ self.W.T + self.delta * mask.unsqueeze(1)
        b = x @ self.w_bias + self.c * mask
        return q, b

    def users(self, users: torch.Tensor | None, z: torch.Tensor | None, n: int) -> torch.Tensor:
        p = self.P[users] if users is not None else torch.zeros(n, self.P.shape[1])
        if self.B is not None and z is not None:
            p = p + z @ self.B.T
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
    history_in_text = False

    def __init__(
        self,
        embedding_size: int = 64,
        epochs: int = 30,
        learning_rate: float = 0.01,
        reg: float = 0.01,
        reg_lm: float = 0.01,
        batch_size: int = 4096,
        use_profile: bool = True,
        lr_decay: bool = True,
        fold_in_epochs: int = 100,
        patience: int = 5,
        seed: int = 0,
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
        self.lr_decay = lr_decay
        self.fold_in_epochs = fold_in_epochs
        self.patience = patience
        self.seed = seed
        self.encoder = encoder
        self.encoder_batch_size = encoder_batch_size
        self.user_fields = list(user_fields)  # lists round-trip through JSON unchanged
        self.max_history = max_history
        self.item_template = item_template
        self.user_template = user_template
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None):
        from recfair.models.classic import _torch as tu

        owner = type(self).__name__
        check_nonneg_float(self.reg, "reg", owner)
        check_nonneg_float(self.reg_lm, "reg_lm", owner)
        check_positive_int(self.fold_in_epochs, "fold_in_epochs", owner)
        self._start_lm_fit(train, sample_weight)
        enc = self._text_encoder()
        self.item_emb_ = enc.encode(self.item_texts_)
        self.profile_emb_ = enc.encode(self.profile_texts_)
        g = tu.make_generator(self.seed)
        self.net_ = _Hybrid(self.item_emb_, self.n_users_, self.embedding_size, bool(self.use_profile), g)
        use_penalty = penalty is not None and float(penalty.weight) != 0.0
        self._train(train, valid, sample_weight, penalty if use_penalty else None, g, tu)
        return self

    def _loss_terms(self, u, i, j, x, z, mask):
        net = self.net_
        q, b = net.items(x, mask)
        p = net.users(u, z[u], len(u))
        x_ui = (p * q[i]).sum(1) + b[i]
        x_uj = (p * q[j]).sum(1) + b[j]
        losses = F.softplus(x_uj - x_ui)
        reg = self.reg * ((net.P[u] ** 2).sum(1) + net.c[i] ** 2 + net.c[j] ** 2).mean()
        reg = reg + self.reg_lm * ((net.delta[i] ** 2).sum(1) + (net.delta[j] ** 2).sum(1)).mean()
        return losses, reg, p, q, x_ui, x_uj

    def _train(self, train, valid, sample_weight, penalty, g, tu) -> None:
        net = self.net_
        x, z = torch.from_numpy(self.item_emb_), torch.from_numpy(self.profile_emb_)
        mask = torch.from_numpy(self.trained_items_).float()
        pool = torch.from_numpy(np.flatnonzero(self.trained_items_).astype(np.int64))
        keys = _keys(train.matrix)
        users_all = torch.from_numpy(train.user.astype(np.int64))
        items_all = torch.from_numpy(train.item.astype(np.int64))
        weights = torch.ones(len(users_all)) if sample_weight is None else torch.as_tensor(
            np.asarray(sample_weight, dtype=np.float32))
        groups = [{"params": list(net.parameters())}]
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
                    losses, reg, p, q, x_ui, x_uj = self._loss_terms(u, i, j, x, z, mask)
                    w = weights[idx]
                    loss = (losses * w).mean() + reg
                    if penalty is not None:
                        batch = PenaltyBatch(u, i, x_ui, losses=losses * w, user_embeddings=p,
                                             item_embeddings=q[i], negative_predictions=x_uj)
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
        if cold.size == 0:
            return
        rows = [np.full(len(self.history_of(int(u))), u) for u in cold]
        u_all = torch.from_numpy(np.concatenate(rows).astype(np.int64))
        i_all = torch.from_numpy(np.concatenate([self.history_of(int(u)) for u in cold]).astype(np.int64))
        keys = _keys(self.seen_)
        pool = torch.from_numpy(np.flatnonzero(self.trained_items_).astype(np.int64))
        g = torch.Generator().manual_seed(int(self.seed) + 1)
        net = self.net_
        q, b = self._q, self._b
        with torch.no_grad():
            prof = torch.from_numpy(self.profile_emb_[cold]) @ net.B.T if net.B is not None else 0.0
        pc = torch.nn.Parameter(torch.zeros(len(cold), net.P.shape[1]))
        pos_of = {int(u): r for r, u in enumerate(cold)}
        r_all = torch.tensor([pos_of[int(u)] for u in u_all.tolist()], dtype=torch.int64)
        opt = torch.optim.Adam([pc], lr=float(self.learning_rate))
        for _ in range(int(self.fold_in_epochs)):
            j = sample_negatives(u_all, keys, pool, self.n_items_, g)
            p = pc[r_all] + (prof[r_all] if torch.is_tensor(prof) else 0.0)
            x_ui = (p * q[i_all]).sum(1) + b[i_all]
            x_uj = (p * q[j]).sum(1) + b[j]
            loss = F.softplus(x_uj - x_ui).mean() + self.reg * (pc[r_all] ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            net.P[torch.from_numpy(cold.astype(np.int64))] = pc.detach()
        log.info("folded in %d cold-start users", len(cold))

    # ---------------------------------------------------------------- score
    def _refresh(self) -> None:
        with torch.no_grad():
            self._q, self._b = self.net_.items(torch.from_numpy(self.item_emb_),
                                               torch.from_numpy(self.trained_items_).float())

    def _scores(self, users: np.ndarray | None, z: torch.Tensor | None, n: int) -> np.ndarray:
        with torch.no_grad():
            u = torch.from_numpy(users.astype(np.int64)) if users is not None else None
            p = self.net_.users(u, z, n)
            return (p @ self._q.T + self._b).numpy().astype(np.float32)

    def _score_known(self, users: np.ndarray) -> np.ndarray:
        return self._scores(users, torch.from_numpy(self.profile_emb_[users]), len(users))

    def score_texts(self, user_texts: Sequence[str], users: np.ndarray | None = None) -> np.ndarray:
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
                            torch.Generator().manual_seed(0))
        self.net_.load_state_dict({k[4:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("net.")})
        self._refresh()
