"""The :class:`Recommender` protocol every model implements, plus shared machinery.

A model subclass implements ``fit`` (calling :meth:`Recommender._start_fit` first),
``score`` and the two state hooks ``_get_state`` / ``_set_state``.  Everything else
— batching ``recommend`` (top-k with seen items masked by
:func:`recfair.recommendations.rank_scores`), save/load as safetensors + JSON — is here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recfair.errors import COLD_ITEMS, COLD_USERS, NOT_FITTED
from recfair.errors import ColdStartError, NotFittedError, RecfairError, check_positive_int
from recfair.models.config import ComponentConfig, Configurable, RuntimeOptions, make_runtime
from recfair.recommendations import Recommendations, rank_scores

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from recfair.data.dataset import Dataset

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
#: Version of the saved-model layout written by :meth:`Recommender.save`.
SAVE_FORMAT = 2
WEIGHTS_FILE = "weights.safetensors"

#: Upper bound on the number of float32 scores materialised per batch in ``recommend``
#: (4M cells = 16 MB: a chunk's masking and top-k stay cache-friendly; 1.5x faster than 16M at 50k items).
SCORE_BATCH_CELLS = 4_000_000


@dataclass
class PenaltyBatch:
    """What an in-processing :class:`Penalty` sees for one training mini-batch.

    Tensors are aligned on the batch dimension ``b``.  Fields a model cannot
    provide are ``None``; a penalty that needs them raises a clear error.
    """

    users: "torch.Tensor"  # (b,) int64 user indices
    items: "torch.Tensor"  # (b,) int64 item indices (the positive item for ranking models)
    predictions: "torch.Tensor"  # (b,) predicted rating / score of (user, item)
    losses: "torch.Tensor | None" = None  # (b,) per-example loss before reduction
    targets: "torch.Tensor | None" = None  # (b,) true ratings (rating models)
    user_embeddings: "torch.Tensor | None" = None  # (b, d) user representations
    item_embeddings: "torch.Tensor | None" = None  # (b, d)
    negative_predictions: "torch.Tensor | None" = None  # (b,) score of the sampled negative
    negative_items: "torch.Tensor | None" = None  # (b,) int64 index of the sampled negative item


class Penalty:
    """In-processing fairness term added to a torch model's loss.

    Lifecycle inside ``Recommender.fit``: ``bind(train)`` once (gets group labels,
    popularity… from the training Dataset, never from test), ``parameters()`` are
    added to the model's optimiser (e.g. an adversarial discriminator), then
    ``penalty(batch)`` returns a scalar tensor, already multiplied by ``lambda_``,
    added to the batch loss.  With ``lambda_ == 0`` a model must train exactly as
    without a penalty (the trainer skips the call).
    """

    lambda_: float = 0.0

    def bind(self, train: "Dataset") -> None:  # pragma: no cover - interface
        """Read what the penalty needs (group labels, popularity…) from the training set."""

    def parameters(self) -> list:
        """Trainable tensors the model adds to its optimiser (default: none)."""
        return []

    def __call__(self, batch: PenaltyBatch) -> "torch.Tensor":  # pragma: no cover - interface
        raise NotImplementedError


def _csr_state(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.indptr": m.indptr.astype(np.int64),
        f"{prefix}.indices": m.indices.astype(np.int32),
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def _csr_from_state(prefix: str, state: dict[str, np.ndarray]) -> sp.csr_matrix:
    indptr, indices = state[f"{prefix}.indptr"], state[f"{prefix}.indices"]
    shape = tuple(int(s) for s in state[f"{prefix}.shape"])
    return sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=shape)


def checked_indices(values: Any, n: int, what: str) -> np.ndarray:
    """``values`` as a flat int64 array of indices, each in ``[0, n)`` (else :class:`RecfairError`
    naming ``what``: ``"user"`` or ``"item"``)."""
    out = np.asarray(values, dtype=np.int64).ravel()
    if out.size and (out.min() < 0 or out.max() >= n):
        raise RecfairError(f"{what} indices must lie in [0, {n}); got {out.min()}..{out.max()}")
    return out


class Recommender(Configurable):
    """Base class of every recommender.

    Conventions (scikit-learn style): ``__init__`` stores hyper-parameters only;
    learned state ends in ``_``; ``fit`` returns ``self``.  Parameter names follow
    the shared vocabulary: ``embedding_size``, ``epochs``, ``learning_rate``,
    ``reg``, ``batch_size``, ``k``, ``seed``.

    Subclasses set ``name`` (registry name), ``Config`` (a
    :class:`~recfair.models.config.ComponentConfig` declaring the hyper-parameters)
    and the capability flags.  ``Recommender(config=None, *, runtime=None, **params)``
    validates the parameters, sets each as an attribute and keeps ``self.runtime``
    (threads, device, progress, checkpoint folder — never saved).
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    #: threads used when ``runtime.threads`` is None (None: torch's default)
    default_threads: ClassVar[int | None] = None
    runtime: RuntimeOptions
    #: can score users with no training interactions (from profile / history / popularity)
    supports_cold_users: ClassVar[bool] = False
    #: can score items with no training interactions (from item text)
    supports_cold_items: ClassVar[bool] = False
    #: has ``predict(users, items)`` for explicit ratings
    predicts_ratings: ClassVar[bool] = False
    #: trains with a non-zero in-processing :class:`Penalty` (others refuse one)
    accepts_penalty: ClassVar[bool] = False
    #: ``fit(sample_weight=...)`` changes what is learned (others only validate the weights)
    uses_sample_weight: ClassVar[bool] = False

    # ---------------------------------------------------------------- params
    def __init__(self, config: Any = None, *, runtime: "RuntimeOptions | dict | None" = None, **params: Any) -> None:
        self._apply_config(config, params)
        self.runtime = make_runtime(runtime, type(self).default_threads)

    @classmethod
    def _param_names(cls) -> list[str]:
        return list(cls.Config.model_fields)

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        train: "Dataset",
        valid: "Dataset | None" = None,
        *,
        sample_weight: np.ndarray | None = None,
        penalty: Penalty | None = None,
    ) -> "Recommender":
        """Train on ``train`` (early stopping on ``valid`` where supported); returns ``self``."""
        raise NotImplementedError

    def _start_fit(self, train: "Dataset", sample_weight: np.ndarray | None = None) -> None:
        """Record what every model needs from the training set; validate weights and parameters."""
        self.config  # re-validates hyper-parameters edited as attributes since __init__
        if train.n_interactions == 0:
            raise RecfairError(f"cannot fit {type(self).__name__} on an empty training set")
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.shape != (train.n_interactions,) or not np.isfinite(sw).all() or (sw < 0).any():
                raise RecfairError(
                    f"sample_weight must be {train.n_interactions} finite non-negative numbers "
                    f"(one per training interaction); got shape {sw.shape}"
                )
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.seen_ = train.matrix

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` or ``load`` has run."""
        return hasattr(self, "seen_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(NOT_FITTED.format(name=type(self).__name__))

    def _trained_items(self) -> np.ndarray:
        """Boolean mask of the items with a training interaction (``_check_items`` refuses the others)."""
        return np.diff(self.seen_.tocsc().indptr) > 0

    def _check_users(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        users = checked_indices(users, self.n_users_, "user")
        if not self.supports_cold_users and users.size:
            counts = np.diff(self.seen_.indptr)[users]
            cold = users[counts == 0]
            if cold.size:
                raise ColdStartError(COLD_USERS.format(name=type(self).__name__, n=cold.size, example=int(cold[0])))
        return users

    def _check_items(self, items: np.ndarray) -> np.ndarray:
        """Validate item indices; refuse items with no training interaction unless ``supports_cold_items``."""
        self._check_fitted()
        items = checked_indices(items, self.n_items_, "item")
        if not self.supports_cold_items and items.size:
            cold = np.unique(items[~self._trained_items()[items]])
            if cold.size:
                raise ColdStartError(COLD_ITEMS.format(name=type(self).__name__, n=cold.size))
        return items

    def observe(self, interactions: "Dataset") -> "Recommender":
        """Record interactions that arrived after training as known history (no re-training).

        Observed items are masked by ``recommend(exclude_seen=True)``; models that read
        histories (the ``lm-*`` family) also use them to represent the user, which is how
        a cold-start user (no training interactions) gets recommendations.  Models that
        cannot represent new users or items raise :class:`ColdStartError` instead.
        """
        self._check_observed(interactions)
        if interactions.n_interactions == 0:
            return self
        users = np.unique(interactions.user)
        if not self.supports_cold_users:
            cold = users[np.diff(self.seen_.indptr)[users] == 0]
            if cold.size:
                raise ColdStartError(COLD_USERS.format(name=type(self).__name__, n=cold.size, example=int(cold[0])))
        self._check_items(np.unique(interactions.item))
        self._add_seen(interactions)
        return self

    def _check_observed(self, interactions: "Dataset") -> None:
        """Refuse observing before fitting, or interactions outside the model's index space."""
        self._check_fitted()
        if interactions.n_users != self.n_users_ or interactions.n_items != self.n_items_:
            raise RecfairError(
                f"observed interactions must share the model's index space ({self.n_users_} users, "
                f"{self.n_items_} items); got {interactions.n_users} users, {interactions.n_items} items"
            )

    def _add_seen(self, interactions: "Dataset") -> None:
        """Add observed interactions to ``seen_`` (what ``recommend(exclude_seen=True)`` masks)."""
        merged = (self.seen_ + interactions.matrix).tocsr()
        merged.data[:] = 1.0
        self.seen_ = merged

    # ----------------------------------------------------------------- score
    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for each user: ``(len(users), n_items)`` float32, higher is better."""
        raise NotImplementedError

    def recommend(
        self,
        users: np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        *,
        candidates: np.ndarray | None = None,
    ) -> Recommendations:
        """Top-``k`` items for each user, by full ranking over the catalogue.

        Parameters
        ----------
        users:
            User indices (default: every user with training interactions).
        k:
            List length.  Lists are padded with ``-1`` when fewer items qualify.
        exclude_seen:
            Never recommend an item the user interacted with in training.
        candidates:
            Optional item indices; only these may be recommended (e.g. new items).
        """
        self._check_fitted()
        k = check_positive_int(k, "k", "recommend")
        if users is None:
            users = np.flatnonzero(np.diff(self.seen_.indptr) > 0)
        users = self._check_users(users)
        allowed = None
        if candidates is not None:
            candidates = self._check_items(candidates)
            allowed = np.zeros(self.n_items_, dtype=bool)
            allowed[candidates] = True
        step = max(1, SCORE_BATCH_CELLS // max(1, self.n_items_))
        items_out, scores_out = [], []
        for start in range(0, len(users), step):
            chunk = users[start : start + step]
            raw = np.asarray(self.score(chunk), dtype=np.float32)
            if raw.shape != (len(chunk), self.n_items_):
                raise RecfairError(f"{type(self).__name__}.score returned shape {raw.shape}, expected {(len(chunk), self.n_items_)}")
            recs = rank_scores(chunk, raw, k, seen=self.seen_[chunk] if exclude_seen else None, allowed=allowed)
            items_out.append(recs.items)
            scores_out.append(recs.scores)
        if not items_out:
            return Recommendations(users.astype(np.int32), np.empty((0, k), np.int32), np.empty((0, k), np.float32))
        return Recommendations(users.astype(np.int32), np.concatenate(items_out), np.concatenate(scores_out))

    # ------------------------------------------------------------ save/load
    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays (numpy) to store; the seen-item matrix is added by the base."""
        raise NotImplementedError

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` + ``weights.safetensors`` into folder ``path``."""
        from safetensors.numpy import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: np.ascontiguousarray(v) for k, v in self._get_state().items()}
        state.update(_csr_state("seen", self.seen_))
        config = {
            "format": SAVE_FORMAT,
            "model": self.name,
            "params": self.get_params(),
            "n_users": int(self.n_users_),
            "n_items": int(self.n_items_),
        }
        tmp_w, tmp_c = path / (WEIGHTS_FILE + ".tmp"), path / (CONFIG_FILE + ".tmp")
        save_file(state, str(tmp_w))
        tmp_c.write_text(json.dumps(config, indent=2, default=_json_default))
        tmp_w.replace(path / WEIGHTS_FILE)
        tmp_c.replace(path / CONFIG_FILE)
        return path

    @classmethod
    def load(cls, path: str | Path, *, runtime: "RuntimeOptions | dict | None" = None) -> "Recommender":
        """Load a model written by :meth:`save`; its class comes from the model registry only.

        The ``config.json`` names a registry entry (``"model": "bpr"``) and a format
        version; a name outside the registry, a missing or newer format is refused
        before anything is imported.  ``runtime`` sets how the loaded model runs.
        """
        from safetensors.numpy import load_file

        from recfair.models.registry import class_for_saved_config

        path = Path(path)
        cfg_file = path / CONFIG_FILE
        if not cfg_file.is_file() or not (path / WEIGHTS_FILE).is_file():
            raise RecfairError(f"{path}: not a saved recfair model (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
        try:
            config = json.loads(cfg_file.read_text())
        except ValueError as exc:
            raise RecfairError(f"{cfg_file}: malformed model config ({exc})") from exc
        klass = class_for_saved_config(config, cfg_file)
        if cls is not Recommender and not issubclass(klass, cls):
            raise RecfairError(f"{cfg_file}: holds a {klass.__name__}, not a {cls.__name__}")
        model = klass(config["params"], runtime=runtime)
        state = load_file(str(path / WEIGHTS_FILE))
        model.seen_ = _csr_from_state("seen", state)
        model.n_users_, model.n_items_ = int(config["n_users"]), int(config["n_items"])
        model._set_state({k: v for k, v in state.items() if not k.startswith("seen.")})
        return model


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
