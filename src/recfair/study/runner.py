"""Run a study: expand the config into cells, run what the store lacks, commit each cell, compare.

The driver is the only writer to the store (:class:`~recfair.study.writer.StoreWriter`:
it holds a run lock throughout and opens the DuckDB file only to write, so
``recfair study status`` can read while a study runs):
workers (:mod:`recfair.study.backends`) return values, the driver writes a
cell's artefacts into a staging folder and commits it in one transaction.  So a
``kill -9`` at any moment leaves whole cells only, and a restart skips the done
ones (resume).  Parents run before their post-processing children; a child of
a failed parent is stored as failed.  After the cells, every cell is compared
with the study's baseline and every mitigated cell with its unmitigated self
(:func:`recfair.fairness.compare_users`, from the store's per-user rows), so
``recfair report`` and ``recfair compare`` need nothing else.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from recfair.study.backends import make_backend
from recfair.study.cells import NONE, Cell, expand_cells
from recfair.study.config import StudyConfig
from recfair.study.execute import MODEL_DIR, RECS_FILE
from recfair.study.probe import PROBE
from recfair.study.writer import StoreWriter

log = logging.getLogger(__name__)

__all__ = ["COMPARE_SECONDS", "PARENT_FAILED", "StudyResult", "compare_pairs", "plan_study", "run_study"]

PARENT_FAILED = "parent cell {parent} failed, so its candidates cannot be re-ranked"
#: Store meta key: seconds spent comparing each cell (``cell_b``) with its baseline and unmitigated self.
COMPARE_SECONDS = "compare_seconds"


@dataclass
class StudyResult:
    """What a run did: the store's folder, counts and seconds per cell kind."""

    root: Path
    planned: int
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    cell_seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        """The DuckDB file."""
        return self.root / "study.duckdb"


def plan_study(config: StudyConfig, base_dir: Path | None = None) -> list[Cell]:
    """The study's cells in run order (parents first)."""
    return expand_cells(config, base_dir)


def _cell_row(cell: Cell, result: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import version

    split = cell.split
    return {
        "cell_id": cell.cell_id, "parent_id": cell.parent_id, "dataset": cell.dataset,
        "fingerprint": cell.fingerprint, "split": f"{split['protocol']} {split['test_size']:g}",
        "model": cell.model, "params": cell.params, "mitigation": cell.mitigation,
        "mitigation_params": cell.mitigation_params, "seed": cell.seed, "started": result.get("started"),
        "seconds": {k: round(v, 3) for k, v in result.get("seconds", {}).items()},
        "versions": _versions(version("recfair")), "config": cell.resolved,
    }


def _versions(recfair_version: str) -> dict[str, str]:
    import numpy
    import torch

    return {"recfair": recfair_version, "python": sys.version.split()[0], "numpy": numpy.__version__,
            "pandas": pd.__version__, "torch": torch.__version__}


def _commit(writer: StoreWriter, cell: Cell, result: dict[str, Any], on_step: Callable | None) -> bool:
    """Store a finished cell (done or failed) in one short session; return whether it is done."""
    row = _cell_row(cell, result)
    if result.get("error"):
        log.warning("cell %s (%s, seed %s) failed: %s", cell.cell_id, cell.label, cell.seed, result["error"])
        writer.record_failure(row, result["error"])
        return False
    with writer.session() as store:
        work = store.staging_dir(cell.cell_id)
        for name, data in result["files"].items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        store.commit_cell(row, result["tables"], work, on_step=on_step)
    return True


def _parent_bytes(store: StoreWriter, cell: Cell) -> bytes | dict[str, bytes] | None:
    """What a child cell needs of its parent: the stored candidates, or (probe) the saved model's files."""
    if cell.parent_id is None:
        return None
    folder = store.cells_dir / cell.parent_id
    if cell.kind == PROBE:
        model = folder / MODEL_DIR
        return {str(p.relative_to(model)): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
    return (folder / RECS_FILE).read_bytes()


class _Progress:
    """A rich overall bar plus one line per finished cell on stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.bar = None
        if self.enabled and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("study"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=True)
            self.task = self.bar.add_task("cells", total=total)
            self.bar.start()

    def done(self, cell: Cell, result: dict[str, Any], ok: bool) -> None:
        """Print the cell's line and advance the bar."""
        if not self.enabled:
            return
        secs = result.get("seconds", {}).get("total", 0.0)
        mark = "[green]done[/]" if ok else f"[red]failed[/] {result.get('error', '')[:120]}"
        self.console.print(f"{cell.cell_id}  {cell.label:<34} seed {cell.seed}  {secs:7.1f} s  {mark}")
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.stop()


def _kind(cell: Cell) -> str:
    return f"{cell.model} / {cell.stage or NONE}"


def _schedule(store: StoreWriter, todo: list[Cell], backend: Any, threads: int, progress: _Progress,
              result: StudyResult, on_step: Callable | None) -> None:
    """Run ``todo`` on ``backend``: parents before children, up to ``backend.capacity`` at a time."""
    stat = store.status()
    failed = {cid for cid, status in zip(stat["cell_id"], stat["status"]) if status == "failed"}
    done = store.done_ids()
    waiting = list(todo)
    running: dict[Any, Cell] = {}
    while waiting or running:
        for cell in list(waiting):
            if len(running) >= backend.capacity:
                break
            if cell.parent_id in failed:
                waiting.remove(cell)
                store.record_failure(_cell_row(cell, {}), PARENT_FAILED.format(parent=cell.parent_id))
                failed.add(cell.cell_id)
                result.failed += 1
            elif cell.parent_id is None or cell.parent_id in done:
                waiting.remove(cell)
                running[backend.submit(cell.to_dict(), _parent_bytes(store, cell), threads)] = cell
        if not running:
            break  # only children of cells that never ran (cannot happen with a planned order)
        for handle, res in backend.wait(list(running)):
            cell = running.pop(handle)
            ok = _commit(store, cell, res, on_step)
            (done if ok else failed).add(cell.cell_id)
            result.ran += 1
            result.failed += 0 if ok else 1
            result.cell_seconds.setdefault(_kind(cell), []).append(res.get("seconds", {}).get("total", 0.0))
            progress.done(cell, res, ok)


def compare_pairs(cells: list[Cell]) -> list[tuple[str, str]]:
    """``(a, b)`` pairs to compare: each cell vs the baseline, each mitigated cell vs its unmitigated self."""
    unmitigated = {}
    for c in cells:
        if c.kind == "fit" and c.mitigation == NONE:
            unmitigated[(c.model, repr(sorted(c.params.items())), c.data_name, repr(c.split), c.seed)] = c.cell_id
    pairs = []
    for c in cells:
        if c.kind == PROBE:
            continue
        if c.baseline_id is not None:
            pairs.append((c.baseline_id, c.cell_id))
        if c.mitigation != NONE:
            own = c.parent_id or unmitigated.get((c.model, repr(sorted(c.params.items())), c.data_name,
                                                  repr(c.split), c.seed))
            if own is not None and (own, c.cell_id) not in pairs:
                pairs.append((own, c.cell_id))
    return pairs


def _compare(writer: StoreWriter, config: StudyConfig, cells: list[Cell]) -> None:
    """Store the missing comparisons between done cells (deterministic: seeded by the cell's seed).

    Each pair's rows are read in one short session and written in another, so
    readers get the store in between.
    """
    import warnings

    from recfair.fairness.compare import compare_users

    with writer.session() as store:
        done, meta = store.done_ids(), store.meta()
        have = store.table("comparisons")[["cell_a", "cell_b"]].drop_duplicates()
    stored = set(zip(have["cell_a"], have["cell_b"]))
    seeds = {c.cell_id: c.seed for c in cells}
    timings = dict(meta.get(COMPARE_SECONDS) or {})
    for a, b in compare_pairs(cells):
        if a not in done or b not in done or (a, b) in stored:
            continue
        t0 = time.perf_counter()
        with writer.session() as store:
            per_a, per_b, groups = store.per_user(a), store.per_user(b), store.user_groups(a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = compare_users(per_a, per_b, groups, metrics=config.metric_columns(),
                                n_bootstrap=config.audit.n_bootstrap,
                                n_permutations=config.audit.n_permutations, seed=seeds[b])
        writer.put_comparison(a, b, {"comparisons": res.groups, "comparison_gaps": res.gaps})
        timings[b] = round(timings.get(b, 0.0) + time.perf_counter() - t0, 3)
    writer.set_meta(COMPARE_SECONDS, timings)


def run_study(
    config: StudyConfig,
    out: str | Path | None = None,
    *,
    workers: int = 1,
    threads: int | None = None,
    ray_address: str | None = None,
    use_ray: bool = False,
    retry_failed: bool = False,
    progress: bool | None = None,
    base_dir: Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> StudyResult:
    """Run every cell of ``config`` the store at ``out`` (default ``config.out``) does not hold yet.

    Parameters
    ----------
    workers : int
        Cells run at the same time (1 = in this process; more = a process pool).
    threads : int, optional
        Torch threads per cell (default 1: these models run fastest on one thread on a
        shared machine, numbers never depend on ``workers``, and ``workers`` cells use
        ``workers`` cores — give ``workers`` = cores to use the machine).
    ray_address, use_ray :
        Run cells as Ray tasks on the cluster at ``ray_address`` (``"auto"``), or on a
        local Ray started on demand (``use_ray`` or ``ray_address="local"``).
    retry_failed : bool
        Run cells stored as failed again (default: keep them failed).
    progress : bool, optional
        Progress lines on stderr (default: when stderr is a terminal).
    on_step : callable, optional
        Passed to :meth:`Store.commit_cell` (crash tests).
    """
    import os

    from recfair.models.lm.encoder import default_cache_dir

    t0 = time.perf_counter()
    cells = plan_study(config, base_dir)
    root = Path(out if out is not None else config.out)
    threads = threads or 1
    cache = os.environ.get("RECFAIR_CACHE") or str(default_cache_dir().parent)
    with StoreWriter(root) as writer:
        with writer.session() as store:
            store.set_meta("config", config.model_dump(mode="json", by_alias=True))
            store.set_meta("title", config.name)
            store.set_meta("plan", [{"cell_id": c.cell_id, "model": c.model, "mitigation": c.mitigation,
                                     "seed": c.seed} for c in cells])
            frame = store.status()
        stat = dict(zip(frame["cell_id"], frame["status"]))
        skip = {"done"} | (set() if retry_failed else {"failed"})
        todo = [c for c in cells if stat.get(c.cell_id) not in skip]
        result = StudyResult(root=root, planned=len(cells), skipped=len(cells) - len(todo))
        bar = _Progress(len(todo), progress)
        backend = make_backend(workers, ray_address, use_ray, cache) if todo else None
        try:
            if backend is not None:
                _schedule(writer, todo, backend, threads, bar, result, on_step)
        finally:
            bar.close()
            if backend is not None:
                backend.close()
        _compare(writer, config, cells)
    result.seconds = time.perf_counter() - t0
    return result
