"""The feedback loop: recommend → choose → append → re-train, round after round.

Round ``t`` (``1..R``) of :class:`Simulator`:

1. **Update the model** from the log of rounds ``< t`` only: re-train when
   ``(t − 1) % retrain_every == 0`` (from scratch, or warm-started for models with
   a ``warm_start`` parameter), otherwise let ``lm-*`` models ``observe`` round
   ``t − 1`` (new histories, new items folded in).  A mitigation acts here
   (re-weigher → ``sample_weight``, penalty → ``penalty``) or in step 2 (re-ranker).
2. **Recommend** ``k`` items to every present user (arrived before round ``t``)
   among released items they have not consumed.  Models that cannot score a user
   they were not trained on fall back to the log's most popular items; models
   that cannot score an untrained item never show it (unless a
   :class:`~recfair.simulation.mapping.ContentMapping` scores it).
3. **Choose**: each user is active with their activity probability; active users
   accept slots by the choice model and may consume one item outside the list.
4. **Arrive**: users arriving in round ``t`` pick ``onboarding`` items (they are
   recommended to from round ``t + 1``).
5. **Measure** the round (:class:`~recfair.simulation.drift.DriftTracker`).

Randomness of round ``t`` comes from ``default_rng([seed, t, …])`` only, so a run
resumed at any round reproduces the uninterrupted trajectory.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.models.base import Recommender
from recfair.models.config import RuntimeOptions
from recfair.recommendations import rank_scores
from recfair.simulation.choice import choose, organic_choice
from recfair.simulation.config import SimulationConfig, SimulationRun
from recfair.simulation.drift import DriftTracker
from recfair.simulation.mapping import ContentMapping, factor_sides, item_text_features
from recfair.simulation.world import ROUND_SECONDS, SOURCES, World

log = logging.getLogger(__name__)

__all__ = ["OracleRecommender", "RoundResult", "Simulator", "make_mitigation"]

RECOMMENDED, ORGANIC, ONBOARDING = (SOURCES.index(s) for s in ("recommended", "organic", "onboarding"))


class OracleRecommender(Recommender):
    """The ideal recommender: ranks by the oracle's preferences (the reference of homogenisation)."""

    name = "oracle"
    supports_cold_users = True
    supports_cold_items = True

    def __init__(self, pref: np.ndarray, *, runtime: Any = None) -> None:
        super().__init__(runtime=runtime)
        self.pref_ = pref

    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "OracleRecommender":
        """Nothing to learn; records the training set like every model."""
        self._start_fit(train, sample_weight)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """The oracle's preference rows."""
        return np.asarray(self.pref_[self._check_users(users)], dtype=np.float32)


def make_mitigation(spec) -> tuple[str, Any]:
    """``(stage, component)`` of a :class:`~recfair.simulation.config.MitigationSpec` via the mitigation registry."""
    from recfair.mitigation.registry import create_penalty, create_reranker, create_reweigher

    params = dict(spec.params)
    if spec.groups is not None:
        params["groups"] = spec.groups
    if spec.lambda_ is not None:
        params["lambda_"] = spec.lambda_
    make = {"pre": create_reweigher, "in": create_penalty, "post": create_reranker}[spec.stage]
    return spec.stage, make(spec.name, **params)


class RoundResult(dict):
    """One round's metrics ``{name: value}``; ``round`` and ``rows`` (the log rows it added) as attributes."""

    round: int
    rows: pd.DataFrame


class Simulator:
    """One trajectory of one model (+ mitigation) in a :class:`~recfair.simulation.world.World`.

    Parameters
    ----------
    world, config, run
        The environment, the loop's settings and the model / mitigation / seed.
    model_factory : callable, optional
        Builds a fresh model (default: the registry's ``run.model`` with ``run.params``;
        ``"oracle"`` is the ideal recommender).
    runtime : RuntimeOptions, optional
        Threads / progress of the models (default: 1 thread, no progress bars).
    """

    def __init__(self, world: World, config: SimulationConfig, run: SimulationRun, *,
                 model_factory: Callable[[], Recommender] | None = None, runtime: RuntimeOptions | None = None,
                 on_recommend: Callable[[int], None] | None = None) -> None:
        self.world, self.config, self.run_spec = world, config, run
        self.runtime = runtime or RuntimeOptions(threads=1, progress=False)
        self.model_factory = model_factory or self._default_factory
        self.on_recommend = on_recommend
        self.stage, self.mitigation = make_mitigation(run.mitigation) if run.mitigation else (None, None)
        self.log = world.initial_log.copy()
        self.tracker = DriftTracker(world, config, run.seed)
        self.model: Recommender | None = None
        self.mapping: ContentMapping | None = None
        self._features: np.ndarray | None = None
        self.round = 0

    def _default_factory(self) -> Recommender:
        if self.run_spec.model == "oracle":
            return OracleRecommender(self.world.oracle.pref, runtime=self.runtime)
        from recfair.models.registry import create_model

        params = dict(self.run_spec.params)
        if self._takes("seed"):
            params.setdefault("seed", self.run_spec.seed)
        return create_model(self.run_spec.model, runtime=self.runtime, **params)

    def _takes(self, field: str) -> bool:
        from recfair.models.registry import get_model_class

        return field in get_model_class(self.run_spec.model).Config.model_fields

    # ------------------------------------------------------------ model
    def _log_before(self, t: int) -> pd.DataFrame:
        return self.log[self.log["round"] < t]

    def update_model(self, t: int) -> None:
        """Step 1 of round ``t``: re-train on rounds ``< t`` or observe round ``t − 1``."""
        if (t - 1) % self.config.retrain_every == 0 or self.model is None:
            self._fit(t)
        elif self.config.observe and hasattr(self.model, "recommend_new_users"):
            rows = self.log[self.log["round"] == t - 1]
            if len(rows):
                self.model.observe(self.world.log_dataset(rows, name=f"round {t - 1}"))

    def _fit(self, t: int) -> None:
        train = self.world.log_dataset(self._log_before(t), name=f"log < {t}")
        weights, penalty = None, None
        if self.stage == "pre":
            weights = self.mitigation.weights(train)
        elif self.stage == "in":
            penalty = self.mitigation
        model = self.model
        warm = (self.config.retrain == "warm" and model is not None and "warm_start" in type(model).Config.model_fields)
        if warm:
            model.warm_start = True
            model.epochs = self.config.fine_tune_epochs
        else:
            model = self.model_factory()
        model.fit(train, sample_weight=weights, penalty=penalty)
        self.model = model
        self.known_users = train.user_counts > 0
        self.trained_items = train.item_counts > 0
        if self.config.content_mapping:
            if self._features is None:
                self._features = item_text_features(self.world.dataset)
            self.mapping = ContentMapping(self.config.mapping_reg).fit(
                self._features, factor_sides(model)[1], self.trained_items)

    # -------------------------------------------------------- recommend
    def _scores(self, users: np.ndarray, popularity: np.ndarray) -> np.ndarray:
        model = self.model
        if model.supports_cold_users:
            return np.asarray(model.score(users), dtype=np.float32)
        known = self.known_users[users]
        out = np.broadcast_to(popularity.astype(np.float32), (len(users), len(popularity))).copy()
        if known.any():
            scores = np.asarray(model.score(users[known]), dtype=np.float32)
            if self.mapping is not None:
                scores = self.mapping.scores(factor_sides(model)[0][users[known]], scores, self.trained_items)
            out[known] = scores
        return out

    def slates(self, t: int, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(slates, ideal)``: the model's (mitigated) top-k and the oracle's top-k for ``users``."""
        k = self.config.k
        past = self.world.log_dataset(self._log_before(t), name=f"log < {t}")
        released = self.world.released(t)
        scorable = released.copy()
        if not (self.model.supports_cold_items or self.mapping is not None):
            scorable &= self.trained_items
        seen = past.matrix[users]
        n = self.config.n_candidates if self.stage == "post" else k
        recs = rank_scores(users, self._scores(users, past.item_popularity.astype(np.float32)), n,
                           seen=seen, allowed=scorable)
        if self.stage == "post":
            recs = self.mitigation.rerank(recs, past, k)
        ideal = self.world.oracle.top(users, k, allowed=released, seen=seen)
        return recs.items[:, :k], ideal

    # ------------------------------------------------------------ choose
    def _choose(self, t: int, users: np.ndarray, slates: np.ndarray) -> tuple[pd.DataFrame, int, int]:
        w, cfg = self.world, self.config.choice
        rng = np.random.default_rng([self.run_spec.seed, t, 1])
        active = rng.random(len(users)) < w.activity[users]
        au, sl = users[active], slates[active]
        pref = w.oracle.pref[au]
        accepted = choose(cfg, sl, pref, rng)
        rows_u = np.repeat(au, accepted.sum(1))
        rows_i = sl[accepted]
        parts_u, parts_i, parts_s = [rows_u], [rows_i], [np.full(len(rows_u), RECOMMENDED)]
        organic = rng.random(len(au)) < cfg.organic
        if organic.any():
            seen = w.log_dataset(pd.concat([self.log, w.stamp(rows_u, rows_i, t, parts_s[0])])).matrix
            ou = au[organic]
            picks = organic_choice(w.oracle.pref[ou], w.released(t), seen[ou], rng)
            parts_u.append(ou[picks >= 0])
            parts_i.append(picks[picks >= 0])
            parts_s.append(np.full(int((picks >= 0).sum()), ORGANIC))
        rows = w.stamp(np.concatenate(parts_u), np.concatenate(parts_i), t, np.concatenate(parts_s))
        return rows, int((sl >= 0).sum()), int(accepted.sum())

    def _onboard(self, t: int) -> pd.DataFrame:
        w = self.world
        arriving = np.flatnonzero(w.user_round == t)
        n = self.config.arrivals.onboarding
        if n == 0 or arriving.size == 0:
            return w.stamp(np.zeros(0), np.zeros(0), t, np.zeros(0))
        rng = np.random.default_rng([self.run_spec.seed, t, 2])
        released = w.released(t)
        picked: list[np.ndarray] = []
        taken = sp.csr_matrix((len(arriving), w.dataset.n_items), dtype=np.float32)
        for _ in range(n):
            p = organic_choice(w.oracle.pref[arriving], released, taken, rng)
            picked.append(p)
            ok = p >= 0
            taken = taken + sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (np.flatnonzero(ok), p[ok])),
                                          shape=taken.shape)
        users = np.repeat(arriving, n)
        items = np.stack(picked, 1).ravel()
        keep = items >= 0
        return w.stamp(users[keep], items[keep], t, np.full(int(keep.sum()), ONBOARDING))

    # ------------------------------------------------------------- round
    def step(self, t: int) -> RoundResult:
        """Run round ``t`` (after rounds ``1..t−1``); returns its metrics."""
        self.update_model(t)
        if self.on_recommend is not None:
            self.on_recommend(t)
        users = np.flatnonzero(self.world.user_round < t)  # arrived in an earlier round (initial users: 0)
        slates, ideal = self.slates(t, users)
        rows, shown, accepted = self._choose(t, users, slates)
        new_rows = pd.concat([rows, self._onboard(t)], ignore_index=True)
        new_rows["timestamp"] = self.world.base_time + t * ROUND_SECONDS + np.arange(len(new_rows), dtype=np.int64)
        self.log = pd.concat([self.log, new_rows], ignore_index=True)
        result = RoundResult(self.tracker.measure(t, users, slates, ideal, self.log, shown, accepted))
        result.round, result.rows = t, new_rows
        self.round = t
        return result

    def replay(self, log: pd.DataFrame, last: int) -> None:
        """Restore the state after round ``last`` from its log, rebuilding the model by replaying its updates.

        The updates of rounds ``1..last`` are redone on the same data (with scratch
        re-training only from the last re-training on), so the model equals the
        uninterrupted run's at the end of round ``last``.
        """
        self.log = log[log["round"] <= last].reset_index(drop=True)
        self.model = None
        fits = [t for t in range(1, last + 1) if (t - 1) % self.config.retrain_every == 0]
        first = fits[-1] if fits and self.config.retrain == "scratch" else 1
        for t in range(first, last + 1):
            self.update_model(t)
        self.round = last
