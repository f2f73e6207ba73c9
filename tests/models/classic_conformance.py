"""Conformance checks every classic recommender passes.

A model's conformance test is three lines::

    class TestMyModel(ClassicConformance):
        model_name = "mymodel"          # registry name
        params = {"epochs": 3}          # small, fast settings
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest

from recfair.errors import BAD_PARAM, COLD_USERS, NOT_FITTED, ColdStartError, NotFittedError, RecfairError
from recfair.models.base import Recommender
from recfair.models.registry import create_model

from classic_fixtures import ForbiddenPenalty, RecordingPenalty, checkerboard


class ClassicConformance:
    model_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    #: trains with a loss and so accepts a non-zero penalty
    takes_penalty: ClassVar[bool] = False

    def make(self, **overrides) -> Recommender:
        return create_model(self.model_name, **{**self.params, **overrides})

    @pytest.fixture(scope="class")
    def data(self):
        """Ratings checkerboard, 40 users + 1 cold user (index 40), 30 items."""
        return checkerboard(disliked=3, cold_users=1)

    @pytest.fixture(scope="class")
    def fitted(self, data):
        return self.make().fit(data)

    @property
    def warm(self) -> np.ndarray:
        return np.arange(40)

    # ---------------------------------------------------------------- basics
    def test_fit_returns_self(self, data):
        model = self.make()
        assert model.fit(data) is model
        assert model.is_fitted and model.n_users_ == data.n_users and model.n_items_ == data.n_items

    def test_params_round_trip_through_json_and_registry(self):
        model = self.make()
        params = json.loads(json.dumps(model.get_params()))
        assert params == model.get_params()
        assert create_model(self.model_name, **params).get_params() == params

    def test_score_shape_and_dtype(self, fitted, data):
        s = fitted.score(self.warm[:7])
        assert s.shape == (7, data.n_items) and s.dtype == np.float32

    def test_scores_do_not_depend_on_the_batch(self, fitted):
        users = self.warm
        together = fitted.score(users)
        alone = np.vstack([fitted.score([u]) for u in users[::-1]])[::-1]
        np.testing.assert_allclose(together, alone, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(
            fitted.recommend(users, k=5).items,
            np.vstack([fitted.recommend([u], k=5).items for u in users]),
        )

    def test_recommend_excludes_seen_items(self, fitted, data):
        recs = fitted.recommend(self.warm, k=15)
        seen = data.matrix
        for u, row in zip(recs.users, recs.items):
            assert not set(row[row >= 0]) & set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]])
        assert recs.items.shape == (40, 15) and (recs.items >= 0).sum(axis=1).min() > 0

    def test_default_users_are_those_with_training_interactions(self, fitted):
        np.testing.assert_array_equal(fitted.recommend(k=3).users, self.warm)

    def test_same_seed_gives_identical_numbers(self, data):
        a = self.make().fit(data).score(self.warm)
        b = self.make().fit(data).score(self.warm)
        np.testing.assert_array_equal(a, b)

    def test_save_load_round_trip(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
        np.testing.assert_array_equal(loaded.score(self.warm), fitted.score(self.warm))
        np.testing.assert_array_equal(loaded.recommend(k=5).items, fitted.recommend(k=5).items)

    # ---------------------------------------------------------------- errors
    def test_bad_k_is_a_clear_error(self, fitted):
        with pytest.raises(RecfairError) as exc:
            fitted.recommend(self.warm, k=-3)
        assert str(exc.value) == BAD_PARAM.format(param="k", owner="recommend", expected="a positive int", value=-3)

    def test_not_fitted_is_a_clear_error(self):
        model = self.make()
        message = NOT_FITTED.format(name=type(model).__name__)
        for call in (lambda: model.recommend([0], k=3), lambda: model.score([0])):
            with pytest.raises(NotFittedError) as exc:
                call()
            assert str(exc.value) == message

    def test_cold_user(self, fitted):
        cold = 40
        if fitted.supports_cold_users:
            recs = fitted.recommend([cold], k=3)
            assert (recs.items >= 0).all()
            return
        with pytest.raises(ColdStartError) as exc:
            fitted.recommend([cold], k=3)
        assert str(exc.value) == COLD_USERS.format(name=type(fitted).__name__, n=1, example=cold)

    def test_bad_sample_weight_is_a_clear_error(self, data):
        with pytest.raises(RecfairError, match="sample_weight must be"):
            self.make().fit(data, sample_weight=np.ones(3))

    # ------------------------------------------------- mitigation plumbing
    def test_zero_weight_penalty_trains_identically(self, data):
        plain = self.make().fit(data).score(self.warm)
        with_zero = self.make().fit(data, penalty=ForbiddenPenalty()).score(self.warm)
        np.testing.assert_array_equal(plain, with_zero)

    def test_unit_sample_weight_trains_identically(self, data):
        plain = self.make().fit(data).score(self.warm)
        ones = self.make().fit(data, sample_weight=np.ones(data.n_interactions)).score(self.warm)
        np.testing.assert_array_equal(plain, ones)

    def test_nonzero_penalty(self, data):
        if self.takes_penalty:
            penalty = RecordingPenalty(weight=0.5)
            self.make().fit(data, penalty=penalty)
            assert penalty.bound == [data] and penalty.batches
            return
        from recfair.models.classic.baselines import NO_PENALTY

        with pytest.raises(RecfairError) as exc:
            self.make().fit(data, penalty=RecordingPenalty(weight=0.5))
        assert str(exc.value) == NO_PENALTY.format(name=type(self.make()).__name__, weight=0.5)
