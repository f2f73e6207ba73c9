"""Conformance checks every registered recommender passes (shipped, like LensKit's test mixins).

A model's conformance test is three lines::

    from recfair.testing import RecommenderConformance

    class TestMyModel(RecommenderConformance):
        model_name = "mymodel"            # registry name
        params = {"epochs": 3}            # small, fast settings

pytest collects the ``test_*`` methods of the mixin.  Each is a thin call to a
``check_*`` function of this module, so the same checks run without pytest::

    data = conformance_data()
    check_same_seed(lambda: create_model("bpr", epochs=2), data)

The data (:func:`conformance_data`) is a checkerboard whose right answer is known
by construction, with item texts and user attributes so text-reading models run
on it, one user and one item without any interaction (cold start).  What is
checked: shapes and dtypes, batch independence, no seen item recommended, same
seed → same scores, save → load → identical scores and parameters, cold users and
items served or refused as ``supports_cold_users`` / ``supports_cold_items`` say,
clear errors (bad ``k``, not fitted, bad weights), and the mitigation hooks: a
zero-weight penalty and all-one sample weights change nothing; a model that
declares ``accepts_penalty`` trains with a non-zero penalty (others refuse it);
one that declares ``uses_sample_weight`` learns something else under other weights.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from recfair.data.dataset import Dataset
from recfair.errors import BAD_PARAM, COLD_ITEMS, COLD_USERS, NOT_FITTED, ColdStartError, NotFittedError, RecfairError
from recfair.models.base import Penalty, PenaltyBatch, Recommender
from recfair.models.registry import create_model

#: Runtime options of every conformance model: quiet, one thread (fast on a shared machine).
QUIET = {"progress": False, "threads": 1}

Factory = Callable[[], Recommender]


@dataclass(frozen=True)
class ConformanceData:
    """The training set and the users / items the checks ask about."""

    train: Dataset
    warm: np.ndarray  # users with training interactions
    cold_user: int  # a user with no interaction
    cold_item: int  # an item with no interaction


@functools.lru_cache(maxsize=4)
def conformance_data(n_users: int = 40, n_items: int = 30, liked: int = 8, disliked: int = 3) -> ConformanceData:
    """Two user blocks each liking one item block, with texts, profiles and one cold user / item.

    Users ``< n_users // 2`` rate ``liked`` items of the first item half 5 and
    ``disliked`` of the other half 1 (and vice versa); item titles name their half
    ("Space …" / "Farm …"); users have gender, age and occupation.  User
    ``n_users`` and item ``n_items`` have no interaction.  Cached: do not modify.
    """
    rng = np.random.default_rng(0)
    half_u, half_i = n_users // 2, n_items // 2
    rows = []
    for u in range(n_users):
        mine = np.arange(half_i) if u < half_u else np.arange(half_i, n_items)
        other = np.setdiff1d(np.arange(n_items), mine)
        picks = [(i, 5.0) for i in rng.choice(mine, liked, replace=False)]
        picks += [(i, 1.0) for i in rng.choice(other, disliked, replace=False)]
        for i, r in picks:
            rows.append((f"u{u}", f"m{i}", r))
    order = rng.permutation(len(rows))
    frame = pd.DataFrame([rows[j] for j in order], columns=["user", "item", "rating"])
    frame["timestamp"] = np.arange(len(frame), dtype=np.int64) * 10
    theme = ["Space" if j < half_i else "Farm" for j in range(n_items + 1)]
    items = pd.DataFrame({
        "item": [f"m{j}" for j in range(n_items + 1)],
        "title": [f"{theme[j]} Story {j}" for j in range(n_items + 1)],
        "year": [1990.0 + j % 10 for j in range(n_items + 1)],
        "genres": [("SciFi",) if theme[j] == "Space" else ("Drama",) for j in range(n_items + 1)],
    })
    users = pd.DataFrame({
        "user": [f"u{u}" for u in range(n_users + 1)],
        "gender": ["M" if u < half_u else "F" for u in range(n_users + 1)],
        "age": [18 + u % 40 for u in range(n_users + 1)],
        "occupation": [("writer", "doctor", "student")[u % 3] for u in range(n_users + 1)],
    })
    train = Dataset.from_frame(frame, users=users, items=items, name="conformance")
    return ConformanceData(train, np.arange(n_users), n_users, n_items)


class ConformancePenalty(Penalty):
    """Pushes predictions up (``−lambda_ · scale · mean prediction``) and records its calls.

    Its one parameter ``scale`` must reach the model's optimiser.
    """

    def __init__(self, lambda_: float = 0.5) -> None:
        import torch

        self.lambda_ = lambda_
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.bound: list[Dataset] = []
        self.calls = 0

    def bind(self, train: Dataset) -> None:
        """Record the training set."""
        self.bound.append(train)

    def parameters(self) -> list:
        """The trainable ``scale``."""
        return [self.scale]

    def __call__(self, batch: PenaltyBatch) -> Any:
        """The penalty term of one mini-batch."""
        self.calls += 1
        return -self.lambda_ * self.scale * batch.predictions.float().mean()


class ForbiddenPenalty(Penalty):
    """A zero-weight penalty that fails if the model touches it at all."""

    lambda_ = 0.0

    def bind(self, train: Dataset) -> None:
        """Must not be called."""
        raise AssertionError("bind called on a zero-weight penalty")

    def parameters(self) -> list:
        """Must not be called."""
        raise AssertionError("parameters called on a zero-weight penalty")

    def __call__(self, batch: PenaltyBatch) -> Any:
        """Must not be called."""
        raise AssertionError("zero-weight penalty called")


def _raises(kind: type[Exception], call: Callable[[], Any]) -> Exception:
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"expected {kind.__name__}")


def _same(a: np.ndarray, b: np.ndarray, exact: bool) -> None:
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ checks
def check_fit_and_shapes(make: Factory, data: ConformanceData) -> Recommender:
    """``fit`` returns the model; ``score`` is ``(n, n_items)`` float32; lists are int32; returns the model."""
    model = make()
    assert model.fit(data.train) is model
    assert model.is_fitted and (model.n_users_, model.n_items_) == (data.train.n_users, data.train.n_items)
    s = model.score(data.warm[:7])
    assert s.shape == (7, data.train.n_items) and s.dtype == np.float32
    recs = model.recommend(data.warm, k=5)
    assert recs.items.shape == (len(data.warm), 5) and recs.items.dtype == np.int32
    assert recs.scores.dtype == np.float32 and recs.users.dtype == np.int32
    np.testing.assert_array_equal(model.recommend(k=3).users, data.warm)
    return model


def check_batch_independence(model: Recommender, data: ConformanceData, exact: bool = True) -> None:
    """A user's scores do not depend on which other users are scored with them."""
    together = model.score(data.warm)
    alone = np.vstack([model.score([u]) for u in data.warm[::-1]])[::-1]
    _same(together, alone, exact=False)
    if exact:
        rows = np.vstack([model.recommend([u], k=5).items for u in data.warm])
        np.testing.assert_array_equal(model.recommend(data.warm, k=5).items, rows)


def check_excludes_seen(model: Recommender, data: ConformanceData) -> None:
    """No training item is recommended back to its user, and every list has items."""
    recs = model.recommend(data.warm, k=15)
    seen = data.train.matrix
    for u, row in zip(recs.users, recs.items):
        assert not set(row[row >= 0]) & set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]])
    assert (recs.items >= 0).sum(axis=1).min() > 0


def check_same_seed(make: Factory, data: ConformanceData, exact: bool = True) -> None:
    """Two models made and fitted alike give the same scores."""
    _same(make().fit(data.train).score(data.warm), make().fit(data.train).score(data.warm), exact)


def check_save_load(model: Recommender, data: ConformanceData) -> None:
    """save → load gives the same class, parameters and scores (runtime options are not saved)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        loaded = Recommender.load(Path(tmp) / "m", runtime=model.runtime)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.score(data.warm), model.score(data.warm))
    np.testing.assert_array_equal(loaded.recommend(k=5).items, model.recommend(k=5).items)


def check_params(make: Factory) -> None:
    """Parameters round-trip through JSON and the registry; runtime options are not parameters."""
    import json

    model = make()
    params = json.loads(json.dumps(model.get_params()))
    assert params == model.get_params()
    assert create_model(model.name, params).get_params() == params
    assert not {"threads", "progress", "device", "checkpoint_dir"} & set(params)


def check_errors(make: Factory, model: Recommender, data: ConformanceData) -> None:
    """Bad ``k``, an unfitted model and bad sample weights are clear errors."""
    exc = _raises(RecfairError, lambda: model.recommend(data.warm, k=-3))
    assert str(exc) == BAD_PARAM.format(param="k", owner="recommend", expected="a positive int", value=-3)
    fresh = make()
    for call in (lambda: fresh.recommend([0], k=3), lambda: fresh.score([0])):
        assert str(_raises(NotFittedError, call)) == NOT_FITTED.format(name=type(fresh).__name__)
    exc = _raises(RecfairError, lambda: make().fit(data.train, sample_weight=np.ones(3)))
    assert "sample_weight must be" in str(exc)


def check_cold_start(model: Recommender, data: ConformanceData) -> None:
    """Cold users / items are served when the capability flag says so, refused otherwise."""
    name = type(model).__name__
    if model.supports_cold_users:
        assert (model.recommend([data.cold_user], k=3).items >= 0).all()
    else:
        exc = _raises(ColdStartError, lambda: model.recommend([data.cold_user], k=3))
        assert str(exc) == COLD_USERS.format(name=name, n=1, example=data.cold_user)
    cand = np.array([data.cold_item])
    if model.supports_cold_items:
        recs = model.recommend(data.warm[:3], k=1, candidates=cand)
        assert (recs.items == data.cold_item).all()
    else:
        exc = _raises(ColdStartError, lambda: model.recommend(data.warm[:3], k=1, candidates=cand))
        assert str(exc) == COLD_ITEMS.format(name=name, n=1)


def check_mitigation_hooks(make: Factory, data: ConformanceData, exact: bool = True) -> None:
    """Zero-weight penalty and unit weights change nothing; declared hooks work, others refuse."""
    plain = make().fit(data.train).score(data.warm)
    _same(plain, make().fit(data.train, penalty=ForbiddenPenalty()).score(data.warm), exact)
    ones = np.ones(data.train.n_interactions)
    _same(plain, make().fit(data.train, sample_weight=ones).score(data.warm), exact)
    penalty = ConformancePenalty(0.5)
    if make().accepts_penalty:
        make().fit(data.train, penalty=penalty)
        assert penalty.bound == [data.train] and penalty.calls > 0
    else:
        _raises(RecfairError, lambda: make().fit(data.train, penalty=penalty))
    if make().uses_sample_weight:
        weights = np.where(data.train.user < len(data.warm) // 2, 5.0, 0.2)
        weighted = make().fit(data.train, sample_weight=weights).score(data.warm)
        assert not np.allclose(plain, weighted)


# ------------------------------------------------------------------ mixin
class RecommenderConformance:
    """pytest mixin running every ``check_*`` on one registered model.

    Set ``model_name`` and small ``params``; override :meth:`model_params` when a
    parameter is only known at run time (e.g. a test encoder's folder).  Set
    ``exact = False`` for models whose float scores may differ in the last bits
    between batchings (text encoders).
    """

    model_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    exact: ClassVar[bool] = True
    _fitted: ClassVar[dict[tuple[type, str], Recommender]] = {}

    def model_params(self) -> dict[str, Any]:
        """The parameters of every model this test builds."""
        return dict(self.params)

    def make(self) -> Recommender:
        """A fresh, unfitted model."""
        return create_model(self.model_name, self.model_params(), runtime=QUIET)

    @property
    def data(self) -> ConformanceData:
        """The shared conformance data."""
        return conformance_data()

    @property
    def fitted(self) -> Recommender:
        """One fitted model per test class (do not modify it)."""
        key = (type(self), self.model_name)
        if key not in self._fitted:
            self._fitted[key] = self.make().fit(self.data.train)
        return self._fitted[key]

    def test_fit_and_shapes(self) -> None:
        """See :func:`check_fit_and_shapes`."""
        check_fit_and_shapes(self.make, self.data)

    def test_params(self) -> None:
        """See :func:`check_params`."""
        check_params(self.make)

    def test_batch_independence(self) -> None:
        """See :func:`check_batch_independence`."""
        check_batch_independence(self.fitted, self.data, self.exact)

    def test_excludes_seen(self) -> None:
        """See :func:`check_excludes_seen`."""
        check_excludes_seen(self.fitted, self.data)

    def test_same_seed(self) -> None:
        """See :func:`check_same_seed`."""
        check_same_seed(self.make, self.data, self.exact)

    def test_save_load(self) -> None:
        """See :func:`check_save_load`."""
        check_save_load(self.fitted, self.data)

    def test_errors(self) -> None:
        """See :func:`check_errors`."""
        check_errors(self.make, self.fitted, self.data)

    def test_cold_start(self) -> None:
        """See :func:`check_cold_start`."""
        check_cold_start(self.fitted, self.data)

    def test_mitigation_hooks(self) -> None:
        """See :func:`check_mitigation_hooks`."""
        check_mitigation_hooks(self.make, self.data, self.exact)
