"""Batch scoring and full-ranking evaluation of one fitted model, sharded over users (Ray or local).

The model travels as the bytes of its saved folder (``config.json`` +
``weights.safetensors``, never a pickle): on Ray it is put in the object store
once, and each worker loads it through the model registry once (cached by content
hash).  Users are cut into shards, one task per shard; at most ``window`` tasks
are in flight at any time (``ray.wait`` frees a slot as a shard finishes).  Each
task returns its shard's top-``k`` (the same ``recommend`` a local call runs), and
the driver puts the shards back in user order, so the result equals
``model.recommend(users, k)`` item for item and score for score.

>>> from recfair.study.distributed import recommend_sharded   # doctest: +SKIP
>>> recs = recommend_sharded(model, users, k=10, shard_size=500, use_ray=True)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recfair.errors import RecfairError, require
from recfair.metrics.evaluate import Evaluation, evaluate
from recfair.models.base import Recommender
from recfair.recommendations import Recommendations

__all__ = [
    "BAD_SHARD_SIZE",
    "BAD_WINDOW",
    "LocalExecutor",
    "ModelBlob",
    "RayExecutor",
    "ShardRun",
    "assemble_shards",
    "evaluate_sharded",
    "load_blob",
    "model_blob",
    "recommend_sharded",
    "run_shards",
    "score_shard",
    "shard_users",
]

BAD_SHARD_SIZE = "shard_size must be a positive int; got {value!r}."
BAD_WINDOW = "window (tasks in flight) must be a positive int; got {value!r}."
BAD_ASSEMBLY = "shards must cover positions 0..{n} once each; got shard indices {got}."

#: Models a worker keeps loaded (by content hash); a study scores one model at a time.
_CACHE_SIZE = 2
_MODELS: dict[str, Recommender] = {}


@dataclass(frozen=True)
class ModelBlob:
    """A fitted model as the files of its saved folder, with their content hash as the key."""

    key: str
    files: dict[str, bytes]


def model_blob(model: Recommender) -> ModelBlob:
    """Save ``model`` to a temporary folder and read its files back as bytes."""
    with tempfile.TemporaryDirectory(prefix="recfair-blob-") as tmp:
        folder = model.save(Path(tmp) / "model")
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + data)
    return ModelBlob(digest.hexdigest(), files)


def load_blob(blob: ModelBlob) -> Recommender:
    """The model in ``blob``, loaded through the registry once per process (then cached)."""
    if blob.key in _MODELS:
        return _MODELS[blob.key]
    from recfair.models.config import RuntimeOptions

    with tempfile.TemporaryDirectory(prefix="recfair-blob-") as tmp:
        folder = Path(tmp)
        for name, data in blob.files.items():
            (folder / name).write_bytes(data)
        model = Recommender.load(folder, runtime=RuntimeOptions(threads=1, progress=False))
    while len(_MODELS) >= _CACHE_SIZE:
        _MODELS.pop(next(iter(_MODELS)))
    _MODELS[blob.key] = model
    return model


def shard_users(users: np.ndarray, shard_size: int) -> list[np.ndarray]:
    """Consecutive slices of ``users`` with at most ``shard_size`` users each (order kept)."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise RecfairError(BAD_SHARD_SIZE.format(value=shard_size))
    users = np.asarray(users, dtype=np.int64).ravel()
    return [users[i : i + shard_size] for i in range(0, len(users), shard_size)]


def score_shard(blob: Any, index: int, users: np.ndarray, k: int, exclude_seen: bool) -> dict[str, Any]:
    """One task: the shard's top-``k`` with the model in ``blob`` (a :class:`ModelBlob` or ``[ref]``).

    Returns ``{"index", "items", "scores", "seconds", "pid"}``; ``seconds`` is the
    scoring time inside the worker (model loading excluded).
    """
    if isinstance(blob, list):  # a Ray reference wrapped so that it is fetched only when not cached
        import ray

        cached = _MODELS.get(blob[1])
        model = cached if cached is not None else load_blob(ray.get(blob[0]))
    else:
        model = load_blob(blob)
    start = time.perf_counter()
    recs = model.recommend(users, k, exclude_seen=exclude_seen)
    return {"index": index, "items": recs.items, "scores": recs.scores,
            "seconds": time.perf_counter() - start, "pid": os.getpid()}


class LocalExecutor:
    """Runs each task in this process when it is submitted (the fallback without Ray)."""

    def put(self, blob: ModelBlob) -> Any:
        """The blob itself (nothing to share)."""
        return blob

    def submit(self, fn: Callable[..., dict[str, Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` now; the handle is its result."""
        return fn(*args)

    def wait(self, handles: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
        """Every handle is finished: ``(results, still pending)``."""
        return list(handles), []

    def close(self) -> None:
        """Nothing to release."""


class RayExecutor:
    """Tasks on Ray: a running cluster at ``address``, or a local Ray with ``num_cpus`` started on demand.

    A local Ray started here is shut down by :meth:`close`; one that was already
    running (or a cluster joined by address) is left as it is.
    """

    def __init__(self, address: str | None = None, num_cpus: int = 2) -> None:
        self.ray = require("ray", extra="ray", feature="Sharded scoring on Ray")
        self.started = not self.ray.is_initialized()
        if self.started:
            if address and address != "local":
                self.ray.init(address=address, log_to_driver=False)
            else:
                self.ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        self.remote = self.ray.remote(num_cpus=1)(score_shard)

    def put(self, blob: ModelBlob) -> Any:
        """The blob in the object store, once; tasks get ``[ref, key]`` so a worker fetches it only once."""
        return [self.ray.put(blob), blob.key]

    def submit(self, fn: Callable[..., dict[str, Any]], *args: Any) -> Any:
        """Start ``score_shard(*args)`` as a Ray task (``fn`` is that function)."""
        return self.remote.remote(*args)

    def wait(self, handles: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
        """Block until at least one task finishes: ``(its results, still pending)``."""
        ready, pending = self.ray.wait(handles, num_returns=1)
        return self.ray.get(ready), pending

    def close(self) -> None:
        """Shut down a local Ray started by this executor."""
        if self.started:
            self.ray.shutdown()


@dataclass
class ShardRun:
    """Sharded scoring's result: the lists in user order and what each shard cost."""

    recs: Recommendations
    shard_seconds: list[float] = field(default_factory=list)
    shard_sizes: list[int] = field(default_factory=list)
    wall_seconds: float = 0.0
    max_in_flight: int = 0
    workers: int = 0


def assemble_shards(results: list[dict[str, Any]], shards: list[np.ndarray], k: int) -> Recommendations:
    """Concatenate per-shard lists in shard order (whatever order they finished in)."""
    got = sorted(r["index"] for r in results)
    if got != list(range(len(shards))):
        raise RecfairError(BAD_ASSEMBLY.format(n=len(shards) - 1, got=got))
    by_index = {r["index"]: r for r in results}
    users = np.concatenate(shards) if shards else np.zeros(0, np.int64)
    if not shards:
        return Recommendations(users, np.empty((0, k), np.int32), np.empty((0, k), np.float32))
    items = np.concatenate([by_index[i]["items"] for i in range(len(shards))])
    scores = np.concatenate([by_index[i]["scores"] for i in range(len(shards))])
    return Recommendations(users, items, scores)


def run_shards(executor: Any, blob: ModelBlob, shards: list[np.ndarray], k: int, *, window: int,
               exclude_seen: bool = True) -> ShardRun:
    """Score every shard on ``executor`` with at most ``window`` tasks in flight; assemble in order."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise RecfairError(BAD_WINDOW.format(value=window))
    start = time.perf_counter()
    shared = executor.put(blob)
    pending: list[Any] = []
    results: list[dict[str, Any]] = []
    most = 0
    for index, users in enumerate(shards):
        while len(pending) >= window:
            done, pending = executor.wait(pending)
            results.extend(done)
        pending.append(executor.submit(score_shard, shared, index, users, k, exclude_seen))
        most = max(most, len(pending))
    while pending:
        done, pending = executor.wait(pending)
        results.extend(done)
    recs = assemble_shards(results, shards, k)
    ordered = sorted(results, key=lambda r: r["index"])
    return ShardRun(recs, [float(r["seconds"]) for r in ordered], [len(s) for s in shards],
                    time.perf_counter() - start, most, len({r["pid"] for r in results}))


def recommend_sharded(model: Recommender, users: np.ndarray | None = None, k: int = 10, *,
                      shard_size: int = 1000, window: int | None = None, use_ray: bool = False,
                      address: str | None = None, num_cpus: int = 2, exclude_seen: bool = True,
                      details: bool = False) -> Recommendations | ShardRun:
    """``model.recommend(users, k)`` computed shard by shard, on Ray or (default) in this process.

    Parameters
    ----------
    model:
        A fitted recommender (shipped as its saved files; loaded once per worker).
    users:
        User indices (default: every user with training interactions, as ``recommend``).
    shard_size:
        Users per task.
    window:
        Most tasks in flight (default: twice the workers, so none waits idle).
    use_ray, address, num_cpus:
        Run on Ray: a cluster at ``address``, else a local Ray with ``num_cpus`` started
        on demand (shut down afterwards).  Without them, shards run here, one by one.
    details:
        Return the :class:`ShardRun` (per-shard seconds, workers seen) instead of the lists.

    Returns
    -------
    Recommendations | ShardRun
        The lists, identical to ``model.recommend(users, k, exclude_seen)``.
    """
    if users is None:
        users = np.flatnonzero(np.diff(model.seen_.indptr) > 0)
    shards = shard_users(np.asarray(users), shard_size)
    remote = use_ray or address is not None
    executor = RayExecutor(address, num_cpus) if remote else LocalExecutor()
    try:
        run = run_shards(executor, model_blob(model), shards, int(k), exclude_seen=exclude_seen,
                         window=window if window is not None else 2 * max(1, num_cpus if remote else 1))
    finally:
        executor.close()
    return run if details else run.recs


def evaluate_sharded(model: Recommender, test: Any, *, train: Any = None, k: int = 10,
                     metrics: Any = None, **options: Any) -> Evaluation:
    """Full-ranking evaluation of ``model`` on ``test``'s users, the lists scored shard by shard.

    ``options`` go to :func:`recommend_sharded` (``shard_size``, ``window``,
    ``use_ray``, ``address``, ``num_cpus``); the metrics are
    :func:`recfair.metrics.evaluate` on the assembled lists, so they equal a local run's.
    """
    users = np.flatnonzero(test.user_counts > 0)
    recs = recommend_sharded(model, users, k, **options)
    return evaluate(recs, test, train=train, k=k, metrics=metrics)
