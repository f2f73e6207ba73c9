"""Where cells run: in the driver, in a process pool, or on Ray — the same function everywhere.

Every backend runs :func:`recfair.study.execute.run_cell` with the same
arguments (the cell as plain values, the parent's candidates as Parquet bytes,
a fixed thread count), so results do not depend on the backend.  The driver
alone writes to the store.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from typing import Any

from recfair.errors import RecfairError, require
from recfair.study.execute import run_cell

__all__ = ["BAD_WORKERS", "Backend", "PoolBackend", "RayBackend", "SyncBackend", "default_threads", "make_backend"]

BAD_WORKERS = "--workers must be a positive int; got {value!r}."


def default_threads(workers: int) -> int:
    """Torch threads per cell so that ``workers × threads`` never exceeds the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _worker_init(cache: str | None) -> None:
    if cache:
        os.environ.setdefault("RECFAIR_CACHE", cache)


class Backend:
    """Submit cells and collect finished results (``wait`` returns at least one when any is pending)."""

    capacity: int = 1

    def submit(self, cell: dict[str, Any], parent: bytes | None, threads: int) -> Any:
        """Start one cell; return a handle."""
        raise NotImplementedError

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """``(handle, result)`` of every handle that has finished (blocks until one has)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class _Finished:
    """The handle of a cell run at submission (hashable, unlike its result)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result


class SyncBackend(Backend):
    """Runs each cell in the driver process when it is submitted."""

    def submit(self, cell: dict[str, Any], parent: bytes | None, threads: int) -> Any:
        """Run the cell now; the handle holds its result."""
        return _Finished(run_cell(cell, parent, threads))

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """Every handle is already done."""
        return [(h, h.result) for h in handles]


class PoolBackend(Backend):
    """A pool of ``workers`` spawned processes (``spawn``: safe with torch's threads)."""

    def __init__(self, workers: int, cache: str | None) -> None:
        self.capacity = workers
        ctx = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                           initargs=(cache,))

    def submit(self, cell: dict[str, Any], parent: bytes | None, threads: int) -> Any:
        """Queue the cell in the pool."""
        return self.pool.submit(run_cell, cell, parent, threads)

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """Finished futures (a worker that died is reported as a failed cell)."""
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            try:
                out.append((fut, fut.result()))
            except Exception as exc:  # e.g. BrokenProcessPool
                out.append((fut, {"error": f"{type(exc).__name__}: {exc}", "tables": {}, "files": {}, "seconds": {}}))
        return out

    def close(self) -> None:
        """Shut the pool down."""
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayBackend(Backend):
    """One Ray task per cell (``num_cpus`` = its threads) on a cluster at ``address`` or a local Ray.

    ``address`` None or ``"local"`` starts a local Ray with every core; ``"auto"``
    or ``ray://HOST:PORT`` joins a running cluster.
    """

    def __init__(self, address: str | None, workers: int, cache: str | None) -> None:
        self.ray = require("ray", extra="ray", feature="Running a study on Ray")
        env = {"env_vars": {"RECFAIR_CACHE": cache}} if cache else None
        if not self.ray.is_initialized():
            if address and address != "local":
                self.ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                self.ray.init(num_cpus=os.cpu_count() or 1, runtime_env=env, include_dashboard=False,
                              log_to_driver=False)
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.capacity = max(1, workers, cpus)
        self.remote = self.ray.remote(run_cell)

    def submit(self, cell: dict[str, Any], parent: bytes | None, threads: int) -> Any:
        """Start a Ray task."""
        return self.remote.options(num_cpus=threads).remote(cell, parent, threads)

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """Finished tasks (a lost task is reported as a failed cell)."""
        ready, _ = self.ray.wait(handles, num_returns=1)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref)))
            except Exception as exc:  # a worker died
                out.append((ref, {"error": f"{type(exc).__name__}: {exc}", "tables": {}, "files": {}, "seconds": {}}))
        return out

    def close(self) -> None:
        """Leave the cluster (a local Ray is shut down)."""
        self.ray.shutdown()


def make_backend(workers: int, ray_address: str | None, use_ray: bool, cache: str | None) -> Backend:
    """The backend for the options of ``recfair study run``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RecfairError(BAD_WORKERS.format(value=workers))
    if ray_address or use_ray:
        return RayBackend(ray_address, workers, cache)
    if workers == 1:
        return SyncBackend()
    return PoolBackend(workers, cache)
