"""Matrix factorisation in torch: :class:`MFRecommender` (ratings) and :class:`BPRRecommender` (implicit)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import torch

from pydantic import Field

from recfair.errors import RecfairError
from recfair.models.base import SCORE_BATCH_CELLS, Penalty, PenaltyBatch, Recommender, checked_indices
from recfair.models.config import ComponentConfig, training_config
from recfair.models import torch_kit as tk
from recfair.models.training import Step, Trainer, TrainingTask

log = logging.getLogger(__name__)

NEEDS_RATINGS = "{name} learns from ratings, but the {part} set '{data}' has none. Use 'bpr' for implicit feedback."
BAD_VALID = (
    "The validation set '{data}' must hold interactions in the training set's index space "
    "({n_users} users, {n_items} items); got {got_users} users, {got_items} items and {n} interactions."
)


class _FactorTask(TrainingTask):
    """A factor model's training as the trainer sees it: parameters, batch losses, validation."""

    def __init__(self, model: "_FactorRecommender", train, valid) -> None:
        self.model = model
        self.generator = tk.make_generator(model.seed)
        self.params = model._init_params(train, self.generator)
        # Row-sparse gradients + lazy Adam where that is cheaper than a dense update: a step then
        # costs O(batch·d), not O(table·d).  A table not much larger than a batch has nearly every
        # row in every batch (lazy and dense Adam nearly coincide) and keeps the dense update.
        model._row_sparse = frozenset(
            k for k in model._sparse_params if tk.sparse_rows_pay(self.params[k].shape, model.batch_size)
        )
        self.inputs = self.epoch_inputs = model._fit_inputs(train)
        self.valid_ctx = model._valid_context(train, valid) if valid is not None else None
        self.n_examples = train.n_interactions

    def param_groups(self) -> list[dict[str, Any]]:
        sparse = self.model._row_sparse
        return [
            {"params": [v for k, v in self.params.items() if k in sparse], "sparse": True},
            {"params": [v for k, v in self.params.items() if k not in sparse]},
        ]

    def start_epoch(self, epoch: int) -> None:
        self.epoch_inputs = self.model._epoch_inputs(self.inputs, self.generator)

    def step(self, idx, with_penalty: bool) -> Step:
        losses, reg, batch = self.model._batch_loss(self.params, self.epoch_inputs, idx, with_penalty)
        return Step(losses, reg, batch)

    def validate(self) -> float:
        return self.model._valid_metric(self.params, self.valid_ctx)

    def state(self) -> dict[str, torch.Tensor]:
        return self.params

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, value in state.items():
                self.params[name].copy_(value)


class _FactorRecommender(Recommender):
    """Shared machinery: parameter checks, the seeded mini-batch loop, early stopping, scoring.

    Subclasses define ``_init_params``, ``_epoch_inputs`` (what a batch indexes into),
    ``_batch_loss`` and ``_valid_metric``, and turn parameters into the two scoring
    factors in ``_scoring_factors``.  ``score`` is one matrix product of those.  Tables with
    many more rows than a batch train with row-sparse gradients and lazy Adam (issue 15).
    """

    _valid_mode: ClassVar[str] = "max"
    _valid_name: ClassVar[str] = "ndcg@10"
    _state_keys: ClassVar[tuple[str, ...]] = ()
    # tables read only through row gathers: sparse gradients and lazy Adam, so a step costs O(batch·d)
    _sparse_params: ClassVar[tuple[str, ...]] = ()
    _row_sparse: frozenset[str] = frozenset()  # those of them sparse in the current fit
    default_threads = 1  # fastest for these small ops, and no stall on a busy machine
    accepts_penalty = True
    uses_sample_weight = True

    # --------------------------------------------------------------- fit
    def fit(self, train, valid=None, *, sample_weight=None, penalty: Penalty | None = None) -> "_FactorRecommender":
        """Train on ``train`` (early stopping on ``valid`` when given) with the shared trainer; returns ``self``."""
        if valid is not None and (
            valid.n_interactions == 0 or (valid.n_users, valid.n_items) != (train.n_users, train.n_items)
        ):
            raise RecfairError(
                BAD_VALID.format(
                    data=valid.name, n_users=train.n_users, n_items=train.n_items,
                    got_users=valid.n_users, got_items=valid.n_items, n=valid.n_interactions,
                )
            )
        self._check_data(train, valid)
        self._start_fit(train, sample_weight)
        threads, progress = self.runtime.threads, self.runtime.progress
        trainer = Trainer(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            patience=self.patience, valid_metric=self._valid_name, valid_mode=self._valid_mode,
            threads=threads, progress=progress, description=type(self).__name__,
        )
        with tk.torch_threads(threads):
            task = _FactorTask(self, train, valid)
            result = trainer.run(task, train=train, sample_weight=sample_weight, penalty=penalty,
                                 validate=valid is not None)
        result.store(self)
        self._store({k: v.detach().numpy().copy() for k, v in task.params.items()})
        return self

    def _check_data(self, train, valid) -> None:
        pass

    def _fit_inputs(self, train) -> dict[str, torch.Tensor]:
        return {
            "users": torch.as_tensor(train.user.astype(np.int64)),
            "items": torch.as_tensor(train.item.astype(np.int64)),
        }

    def _epoch_inputs(self, inputs: dict[str, torch.Tensor], g: torch.Generator) -> dict[str, torch.Tensor]:
        return inputs

    def _rows(self, p: dict[str, torch.Tensor], name: str, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` of parameter ``name`` (a sparse gradient when it is row-sparse in this fit)."""
        return tk.gather_rows(p[name], idx, name in self._row_sparse)

    # ------------------------------------------------------------- state
    def _store(self, arrays: dict[str, np.ndarray]) -> None:
        for key in self._state_keys:
            setattr(self, key + "_", np.ascontiguousarray(arrays[key], dtype=np.float32))
        self._user_side, self._item_side = self._scoring_factors()

    def _get_state(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key + "_") for key in self._state_keys}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._store(state)

    # ------------------------------------------------------------- score
    def score(self, users: np.ndarray) -> np.ndarray:
        """One product ``[user factors | 1 | bias] · [item factors | bias | 1]ᵀ``: ``(n, n_items)`` float32."""
        users = self._check_users(users)
        return self._user_side[users] @ self._item_side.T


class MFRecommender(_FactorRecommender):
    """Biased matrix factorisation trained on squared rating error (the rating-prediction objective).

    ``r̂(u, i) = μ + b_u + b_i + p_u·q_i``, minimising over mini-batches (Adam)
    ``mean_b w·(r − r̂)² + reg·mean_b(‖p_u‖² + ‖q_i‖² + b_u² + b_i²)``.
    With ``valid`` (a Dataset with ratings) training stops when validation RMSE has
    not improved for ``patience`` epochs and the best epoch's parameters are kept.
    ``score`` ranks items by predicted rating.

    Parameters
    ----------
    **params:
        The fields of :attr:`Config` (``recfair models --params mf`` lists them with bounds
        and defaults); ``seed`` fixes initialisation and batch order.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.data import Dataset
    >>> df = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"], "rating": [5.0, 1.0, 4.0, 2.0]})
    >>> mf = MFRecommender(epochs=5, seed=0).fit(Dataset.from_frame(df))
    >>> mf.predict([0, 1], [0, 2]).shape
    (2,)
    """

    name = "mf"
    predicts_ratings = True
    _valid_mode = "min"
    _valid_name = "rmse"
    _state_keys = ("user_factors", "item_factors", "user_bias", "item_bias", "global_bias")
    _sparse_params = ("user_factors", "item_factors", "user_bias", "item_bias")

    class Config(training_config(ComponentConfig, "MFTraining", embedding_size=64, epochs=40, learning_rate=0.02,
                                 reg=0.1, batch_size=4096, patience=3, seed=0)):
        """Hyper-parameters of :class:`MFRecommender` (the shared training fields only)."""

    def _check_data(self, train, valid) -> None:
        for part, ds in (("training", train), ("validation", valid)):
            if ds is not None and ds.rating is None:
                raise RecfairError(NEEDS_RATINGS.format(name=type(self).__name__, part=part, data=ds.name))

    def _init_params(self, train, g: torch.Generator) -> dict[str, torch.nn.Parameter]:
        d = self.embedding_size
        return {
            "user_factors": tk.normal_init((train.n_users, d), 0.01, g),
            "item_factors": tk.normal_init((train.n_items, d), 0.01, g),
            "user_bias": torch.nn.Parameter(torch.zeros(train.n_users)),
            "item_bias": torch.nn.Parameter(torch.zeros(train.n_items)),
            "global_bias": torch.nn.Parameter(torch.tensor([float(np.mean(train.rating))], dtype=torch.float32)),
        }

    def _fit_inputs(self, train) -> dict[str, torch.Tensor]:
        out = super()._fit_inputs(train)
        out["ratings"] = torch.as_tensor(train.rating.astype(np.float32))
        return out

    def _predict_t(self, p: dict[str, torch.Tensor], u: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rows = self._rows
        pu, qi = rows(p, "user_factors", u), rows(p, "item_factors", i)
        bu, bi = rows(p, "user_bias", u), rows(p, "item_bias", i)
        return p["global_bias"] + bu + bi + (pu * qi).sum(1), pu, qi, bu, bi

    def _batch_loss(self, p, inputs, idx, want_batch):
        u, i, r = inputs["users"][idx], inputs["items"][idx], inputs["ratings"][idx]
        pred, pu, qi, bu, bi = self._predict_t(p, u, i)
        losses = (r - pred) ** 2
        reg = self.reg * ((pu * pu).sum(1) + (qi * qi).sum(1) + bu * bu + bi * bi).mean()
        batch = PenaltyBatch(u, i, pred, targets=r, user_embeddings=pu, item_embeddings=qi) if want_batch else None
        return losses, reg, batch

    def _valid_context(self, train, valid) -> dict[str, torch.Tensor]:
        return {
            "users": torch.as_tensor(valid.user.astype(np.int64)),
            "items": torch.as_tensor(valid.item.astype(np.int64)),
            "ratings": torch.as_tensor(valid.rating.astype(np.float32)),
        }

    def _valid_metric(self, p, ctx) -> float:
        pred = self._predict_t(p, ctx["users"], ctx["items"])[0]
        return float(torch.sqrt(((pred - ctx["ratings"]) ** 2).mean()))

    def _scoring_factors(self) -> tuple[np.ndarray, np.ndarray]:
        ones_u = np.ones((self.n_users_, 1), np.float32)
        ones_i = np.ones((self.n_items_, 1), np.float32)
        user_const = (self.user_bias_ + self.global_bias_[0])[:, None]
        user_side = np.hstack([self.user_factors_, ones_u, user_const]).astype(np.float32)
        item_side = np.hstack([self.item_factors_, self.item_bias_[:, None], ones_i]).astype(np.float32)
        return user_side, np.ascontiguousarray(item_side)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of the pairs ``(users[n], items[n])``: ``(n,)`` float32."""
        users = self._check_users(users)
        items = np.asarray(items, dtype=np.int64).ravel()
        if items.shape != users.shape:
            raise RecfairError(f"predict needs as many items as users; got {items.shape[0]} and {users.shape[0]}")
        checked_indices(items, self.n_items_, "item")
        return np.einsum("nd,nd->n", self._user_side[users], self._item_side[items]).astype(np.float32)


class BPRRecommender(_FactorRecommender):
    """BPR matrix factorisation for implicit feedback (Rendle et al. 2009), every interaction a positive.

    ``x(u, i) = p_u·q_i + b_i``.  Each epoch every training interaction ``(u, i)``
    gets ``n_negatives`` candidate items drawn uniformly (seeded) among the items
    ``u`` has not interacted with; the candidate the current model scores highest
    is the negative ``j`` (dynamic negative sampling, Zhang et al. 2013;
    ``n_negatives=1`` is textbook BPR with uniform sampling).  The mini-batch
    loss (Adam) is
    ``mean_b w·(−log σ(x(u,i) − x(u,j))) + reg·mean_b(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²)``.
    With ``valid`` training stops when validation nDCG@10 (full ranking,
    training items excluded) has not improved for ``patience`` epochs; the best
    epoch's parameters are kept.

    Parameters
    ----------
    **params:
        The fields of :attr:`Config` (``recfair models --params bpr``); ``seed`` fixes
        initialisation, batch order and negatives, ``n_negatives`` candidates are drawn per
        positive and the hardest is trained against, ``item_bias=False`` keeps ``b_i`` at 0.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.data import Dataset
    >>> df = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"]})
    >>> bpr = BPRRecommender(embedding_size=8, epochs=20, seed=0).fit(Dataset.from_frame(df))
    >>> bpr.recommend(k=1).items.shape
    (3, 1)
    """

    name = "bpr"
    _valid_mode = "max"
    _valid_name = "ndcg@10"
    _state_keys = ("user_factors", "item_factors", "item_bias")
    _sparse_params = ("user_factors", "item_factors", "item_bias")

    class Config(training_config(ComponentConfig, "BPRTraining", embedding_size=64, epochs=20, learning_rate=0.01,
                                 reg=0.01, batch_size=4096, patience=5, seed=0)):
        """Hyper-parameters of :class:`BPRRecommender`."""

        n_negatives: int = Field(4, ge=1, description="candidates drawn per positive; the hardest one is trained against")
        item_bias: bool = Field(True, description="learn an item bias (else it stays 0)")

    def _init_params(self, train, g: torch.Generator) -> dict[str, torch.nn.Parameter]:
        d = self.embedding_size
        return {
            "user_factors": tk.normal_init((train.n_users, d), 0.1, g),
            "item_factors": tk.normal_init((train.n_items, d), 0.1, g),
            "item_bias": torch.nn.Parameter(torch.zeros(train.n_items), requires_grad=bool(self.item_bias)),
        }

    def _fit_inputs(self, train) -> dict[str, Any]:
        out = super()._fit_inputs(train)
        out["seen"] = tk.SeenLookup(train.matrix)
        return out

    def _epoch_inputs(self, inputs, g):
        """Draw ``n_negatives`` candidates per interaction, uniformly among the user's unseen items."""
        users, seen = inputs["users"], inputs["seen"]
        m = self.n_negatives
        flat_users = users if m == 1 else users.repeat_interleave(m)
        neg = torch.randint(seen.n_items, flat_users.shape, generator=g)
        bad = torch.nonzero(seen.contains(flat_users, neg)).squeeze(1)
        for _ in range(50):  # redraw collisions; a user who saw every item keeps a seen one
            if bad.numel() == 0:
                break
            neg[bad] = torch.randint(seen.n_items, bad.shape, generator=g)
            bad = bad[seen.contains(flat_users[bad], neg[bad])]
        return {**inputs, "negatives": neg.view(len(users), m)}

    def _batch_loss(self, p, inputs, idx, want_batch):
        u, i, cand = inputs["users"][idx], inputs["items"][idx], inputs["negatives"][idx]
        rows = self._rows
        pu, qi, bi = rows(p, "user_factors", u), rows(p, "item_factors", i), rows(p, "item_bias", i)
        if cand.shape[1] == 1:
            j = cand[:, 0]
        else:  # dynamic negative sampling: train against the highest-scored candidate
            with torch.no_grad():
                flat = cand.reshape(-1)
                qc = rows(p, "item_factors", flat).view(*cand.shape, -1)
                sc = torch.einsum("bd,bmd->bm", pu, qc) + rows(p, "item_bias", flat).view(cand.shape)
                j = cand.gather(1, sc.argmax(1, keepdim=True)).squeeze(1)
        qj, bj = rows(p, "item_factors", j), rows(p, "item_bias", j)
        x_ui = (pu * qi).sum(1) + bi
        x_uj = (pu * qj).sum(1) + bj
        losses = torch.nn.functional.softplus(x_uj - x_ui)  # = −log σ(x_ui − x_uj)
        sq = (pu * pu).sum(1) + (qi * qi).sum(1) + (qj * qj).sum(1)
        if self.item_bias:
            sq = sq + bi * bi + bj * bj
        reg = self.reg * sq.mean()
        batch = None
        if want_batch:
            batch = PenaltyBatch(
                u, i, x_ui, user_embeddings=pu, item_embeddings=qi, negative_predictions=x_uj, negative_items=j
            )
        return losses, reg, batch

    def _valid_context(self, train, valid) -> dict[str, Any]:
        counts = np.diff(self.seen_.indptr)
        vm = valid.matrix
        users = np.flatnonzero((np.diff(vm.indptr) > 0) & (counts[: vm.shape[0]] > 0))
        seen = self.seen_[users]
        rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
        return {
            "users": users,
            "relevant": vm,
            "mask_rows": torch.as_tensor(rows.astype(np.int64)),
            "mask_cols": torch.as_tensor(seen.indices.astype(np.int64)),
        }

    def _valid_metric(self, p, ctx) -> float:
        """Validation nDCG@10 by full ranking, users in chunks (never all users × items at once)."""
        users, rows, cols = ctx["users"], ctx["mask_rows"], ctx["mask_cols"]
        step = max(1, SCORE_BATCH_CELLS // max(1, p["item_factors"].shape[0]))
        tops = []
        for lo in range(0, len(users), step):
            hi = min(lo + step, len(users))
            s = p["user_factors"][torch.as_tensor(users[lo:hi])] @ p["item_factors"].T + p["item_bias"]
            a, b = torch.searchsorted(rows, torch.tensor([lo, hi])).tolist()
            s[rows[a:b] - lo, cols[a:b]] = -torch.inf
            tops.append(torch.topk(s, min(10, s.shape[1]), dim=1).indices.numpy())
        top = np.concatenate(tops) if tops else np.zeros((0, 10), np.int64)
        return tk.ndcg_at_k(top, users, ctx["relevant"])

    def _scoring_factors(self) -> tuple[np.ndarray, np.ndarray]:
        user_side = np.hstack([self.user_factors_, np.ones((self.n_users_, 1), np.float32)])
        item_side = np.hstack([self.item_factors_, self.item_bias_[:, None]])
        return user_side.astype(np.float32), np.ascontiguousarray(item_side, dtype=np.float32)
