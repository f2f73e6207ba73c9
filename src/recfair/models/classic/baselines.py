"""Non-personalised baselines: :class:`RandomRecommender` and :class:`PopularityRecommender`."""

from __future__ import annotations

import numpy as np

from recfair.errors import RecfairError
from recfair.models.base import Penalty, Recommender
from recfair.models.config import ComponentConfig, Seed

NO_PENALTY = (
    "{name} does not train with a loss, so it cannot take an in-processing penalty "
    "(lambda {lambda_}). Use a torch model (mf, bpr) or a pre-/post-processing mitigation."
)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective, well-mixing map on uint64 (wraps on overflow)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def check_no_penalty(model: Recommender, penalty: Penalty | None) -> None:
    """Models without a training loss accept ``penalty=None`` or a penalty with lambda_ = 0 only."""
    if penalty is not None and float(penalty.lambda_) != 0.0:
        raise RecfairError(NO_PENALTY.format(name=type(model).__name__, lambda_=penalty.lambda_))


def pair_mean_weights(train, sample_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs of ``train`` and the mean weight of each pair's interactions.

    Returns ``users, items, weights`` (pairs sorted by user, then item).  With all-one
    weights every pair weighs 1, as in the binary matrix ``train.matrix``.
    """
    keys = train.user.astype(np.int64) * train.n_items + train.item.astype(np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    total = np.bincount(inv, weights=np.asarray(sample_weight, np.float64), minlength=len(uniq))
    count = np.bincount(inv, minlength=len(uniq))
    return uniq // train.n_items, uniq % train.n_items, total / count


class RandomRecommender(Recommender):
    """Uniformly random rankings — the floor every other model must beat.

    The score of ``(user, item)`` is a hash of ``(seed, user, item)`` mapped to
    ``[0, 1)``, so it is the same whatever batch the user is scored in and
    whichever other users are asked for at the same time.

    Parameters
    ----------
    seed:
        Which random ranking; same seed ⇒ same lists.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.data import Dataset
    >>> ds = Dataset.from_frame(pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "c"]}))
    >>> RandomRecommender(seed=3).fit(ds).recommend(k=2).items.shape
    (2, 2)
    """

    name = "random"

    class Config(ComponentConfig):
        """Hyper-parameters of :class:`RandomRecommender`."""

        seed: Seed = 0

    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "RandomRecommender":
        """Record the training set's sizes and seen items only (nothing is learned); a ``penalty`` is refused."""
        check_no_penalty(self, penalty)
        self._start_fit(train, sample_weight)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """Uniform scores on [0, 1) hashed from (``seed``, user, item): a user gets the same row in any batch."""
        users = self._check_users(users)
        with np.errstate(over="ignore"):
            base = _mix64(np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + _GOLDEN)
            row = _mix64(base ^ (users.astype(np.uint64) * _GOLDEN))
            z = _mix64(row[:, None] + np.arange(self.n_items_, dtype=np.uint64)[None, :] * _M2)
        # 24 high bits: exactly representable in float32, uniform on [0, 1).
        return ((z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)

    def _get_state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        pass


class PopularityRecommender(Recommender):
    """Most popular items first: score of an item = number of distinct training users.

    It scores any user, including users with no training interactions
    (``supports_cold_users``).  With ``sample_weight`` the score of an item is the
    sum over its training users of their (mean, if repeated) interaction weight, so
    all-one weights give the plain user count.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.data import Dataset
    >>> ds = Dataset.from_frame(pd.DataFrame({"user": [1, 2, 2], "item": ["a", "a", "b"]}))
    >>> PopularityRecommender().fit(ds).recommend([0], k=1, exclude_seen=False).items.tolist()
    [[0]]
    """

    name = "popularity"
    supports_cold_users = True
    uses_sample_weight = True

    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "PopularityRecommender":
        """Count each item's distinct training users (with ``sample_weight``: sum their mean weights); no ``penalty``."""
        check_no_penalty(self, penalty)
        self._start_fit(train, sample_weight)
        if sample_weight is None:
            counts = train.item_popularity.astype(np.float64)
        else:
            _, items, w = pair_mean_weights(train, sample_weight)
            counts = np.bincount(items, weights=w, minlength=train.n_items)
        self.item_scores_ = counts.astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """The same popularity row (``item_scores_``) for every user, cold users included."""
        users = self._check_users(users)
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_)).copy()

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_scores_ = state["item_scores"].astype(np.float32)
