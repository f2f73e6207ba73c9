"""Train → recommend → evaluate, the steps ``recfair train``, ``evaluate``, ``demo`` and ``export`` share.

Library logic the command line only calls: the CLI parses options and prints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recfair.errors import RecfairError
from recfair.runs.artifacts import atomic_write_text

if TYPE_CHECKING:  # imported lazily at run time
    from recfair.metrics import Evaluation
    from recfair.models.base import Recommender
    from recfair.recommendations import Recommendations

EXPORT_FORMATS = ("csv", "parquet")
BAD_EXPORT_FORMAT = "--format must be one of: {choices}. Got {value!r} instead."
K_TOO_LARGE = "--k {k} exceeds the run's stored list length {n}; use --k {n} or less"


def takes_seed(klass: type) -> bool:
    """Whether a model class has a ``seed`` hyper-parameter."""
    config = getattr(klass, "Config", None)
    fields = getattr(config, "model_fields", None)
    if fields is not None:
        return "seed" in fields
    import inspect

    return "seed" in inspect.signature(klass).parameters


def train_model(model_name: str, split, params: dict[str, Any], *, seed: int, sample_weight=None, penalty=None,
                runtime=None) -> tuple[Recommender, float]:
    """Create, fit and return ``(model, fit_seconds)``; ``seed`` is passed when the model takes one."""
    from recfair.models.registry import create_model, get_model_class

    if takes_seed(get_model_class(model_name)) and "seed" not in params:
        params = {**params, "seed": seed}
    model = create_model(model_name, runtime=runtime, **params) if runtime is not None else create_model(
        model_name, **params)
    t0 = time.perf_counter()
    model.fit(split.train, split.valid, sample_weight=sample_weight, penalty=penalty)
    return model, time.perf_counter() - t0


def recommend_test(model, split, k: int, *, candidates: int | None = None) -> tuple[Recommendations, Evaluation]:
    """Recommend ``max(k, candidates)`` items for every test user; return ``(recs, evaluation@k)``."""
    from recfair.metrics import evaluate

    users = np.flatnonzero(split.test.user_counts > 0)
    if split.history is not None and split.history.n_interactions:
        model.observe(split.history)
    cand = None
    if split.protocol == "cold-items":
        cand = np.flatnonzero((split.test.item_counts > 0) & (split.train.item_counts == 0))
    recs = model.recommend(users, k=max(k, candidates or k), candidates=cand)
    return recs, evaluate(recs.truncate(k), split.test, train=split.train, k=k)


def is_rating_model(model, split) -> bool:
    """A model that predicts ratings (``predict``) on a data set whose test part has ratings."""
    return callable(getattr(model, "predict", None)) and split.test.rating is not None


def evaluate_run(run, k: int) -> dict[str, float]:
    """Ranking metrics @k of a run's stored lists (plus RMSE / MAE for rating models)."""
    from recfair.metrics import evaluate

    if k > run.config.n_candidates:
        raise RecfairError(K_TOO_LARGE.format(k=k, n=run.config.n_candidates))
    recs = run.recommendations(k)
    ev = evaluate(recs, run.split.test, train=run.split.train, k=k)
    values = {name: float(v) for name, v in ev.overall.items()}
    if (run.path / "model").is_dir() and is_rating_model(run.model, run.split):
        from recfair.runs.rating import rating_errors

        values.update(rating_errors(run.model, run.split.test))
    return values


def export_recommendations(run, out: str | Path, fmt: str) -> Path:
    """Write a run's lists with raw ids (``user_id, rank, item_id, score, user, item``) as CSV or Parquet."""
    if fmt not in EXPORT_FORMATS:
        raise RecfairError(BAD_EXPORT_FORMAT.format(choices=", ".join(EXPORT_FORMATS), value=fmt))
    out = Path(out)
    df = run.recommendations().to_table(run.dataset)
    df = df[["user_id", "rank", "item_id", "score", "user", "item"]]
    if fmt == "csv":
        atomic_write_text(out, df.to_csv(index=False))
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(out)
    return out
