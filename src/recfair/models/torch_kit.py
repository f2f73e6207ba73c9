"""Torch building blocks shared by every trained model (the trainer uses them too).

Seeding, shuffled mini-batches, early stopping, a quiet-when-not-a-TTY progress
bar, a seen-pair lookup and a fast full-ranking nDCG@k used as a validation metric
during training.
Nothing here changes global torch state except inside :func:`torch_threads`,
which restores the previous thread count on exit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

log = logging.getLogger(__name__)


def make_generator(seed: int) -> torch.Generator:
    """A CPU :class:`torch.Generator` seeded with ``seed`` (all model randomness comes from it)."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def normal_init(shape: tuple[int, ...], std: float, generator: torch.Generator) -> torch.nn.Parameter:
    """A float32 parameter drawn from N(0, std²) with ``generator``."""
    t = torch.empty(shape, dtype=torch.float32)
    t.normal_(0.0, std, generator=generator)
    return torch.nn.Parameter(t)


class _RowGather(torch.autograd.Function):
    """``table[idx]`` whose backward is a sparse (row) gradient: O(len(idx)·d), not O(table)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(idx)
        ctx.table_shape = table.shape
        return torch.index_select(table, 0, idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (idx,) = ctx.saved_tensors
        rows = torch.sparse_coo_tensor(idx.unsqueeze(0), grad, ctx.table_shape, check_invariants=False)
        return rows, None


def gather_rows(table: torch.Tensor, idx: torch.Tensor, sparse: bool = False) -> torch.Tensor:
    """Rows ``idx`` of ``table``, differentiable.

    ``sparse=True`` makes the gradient reaching ``table`` a sparse tensor over the
    rows ``idx`` only (for :class:`LazyAdam`), so a training step costs
    O(batch·d) instead of O(rows of the table·d).
    """
    if sparse and table.requires_grad and torch.is_grad_enabled():
        return _RowGather.apply(table, idx)
    # index_select's backward is index_add_, several times faster on CPU than the
    # accumulate-scatter behind ``table[idx]`` (and deterministic).
    return torch.index_select(table, 0, idx)


def sparse_rows_pay(shape: tuple[int, ...], rows_per_step: int) -> bool:
    """Whether a table of ``shape`` read ``rows_per_step`` rows a step trains faster row-sparse.

    A dense Adam step costs ∝ the table's size; a lazy one ∝ the rows read, plus a
    fixed cost per row (sorting the indices) that matters for narrow rows: sparse
    pays once the table has more than ``rows_per_step · (1 + 16 / row width)`` rows
    (measured on CPU: about 1.25× a batch for 64 factors, 17× for a bias).
    """
    width = math.prod(shape[1:]) if len(shape) > 1 else 1
    return shape[0] > rows_per_step * (1 + 16 / width)


def _sum_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a sparse row gradient and their summed values (sorted by row).

    Same numbers as ``grad.coalesce()``, faster on CPU: a small table is scattered
    into densely (no sort), a large one gets one ``unique`` over the row indices
    and one ``index_add_`` of the values.  Both sum each row's values in index
    order, so the result does not depend on the path taken.
    """
    idx, values = grad._indices()[0], grad._values()
    if grad.shape[0] <= 2 * len(idx):
        dense = torch.zeros(grad.shape, dtype=values.dtype).index_add_(0, idx, values)
        rows = torch.zeros(grad.shape[0], dtype=torch.bool).index_fill_(0, idx, True).nonzero().squeeze(1)
        return rows, dense.index_select(0, rows)
    rows, inverse = torch.unique(idx, sorted=True, return_inverse=True)
    summed = torch.zeros((len(rows), *values.shape[1:]), dtype=values.dtype)
    return rows, summed.index_add_(0, inverse, values)


class LazyAdam(torch.optim.Optimizer):
    """Adam (Kingma & Ba 2015) that updates only the rows a sparse gradient touches.

    A dense gradient gets the usual Adam update.  A sparse one (from
    :func:`gather_rows` with ``sparse=True``) updates the moments and values of
    its rows only, bias-corrected with the parameter's step count — the "lazy
    Adam" of ``torch.optim.SparseAdam`` and TensorFlow Addons: rows absent from a
    batch keep their moments instead of drifting on stale momentum, and one step
    costs O(rows in the batch·d) however large the embedding tables are.
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> None:
        """One update of every parameter with a gradient."""
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # both moments of a row side by side: one gather and one scatter per step
                    state.update(step=0, moments=torch.zeros((p.shape[0], 2, *p.shape[1:]), dtype=p.dtype))
                state["step"] += 1
                t = state["step"]
                root_bc2, step_size = math.sqrt(1 - b2**t), lr / (1 - b1**t)
                g = p.grad
                if g.is_sparse:
                    rows, g = _sum_rows(g)
                    moments = state["moments"].index_select(0, rows)
                else:
                    moments = state["moments"]
                m, v = moments[:, 0], moments[:, 1]
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                update = v.sqrt().div_(root_bc2).add_(eps)
                torch.div(m, update, out=update)
                if p.grad.is_sparse:
                    state["moments"].index_copy_(0, rows, moments)
                    p.index_add_(0, rows, update, alpha=-step_size)
                else:
                    p.add_(update, alpha=-step_size)


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Positions ``0..n-1`` in a seeded random order, cut into mini-batches (the last may be short)."""
    perm = torch.randperm(n, generator=generator)
    yield from perm.split(batch_size)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads (``None``: leave as is), then restore."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class EarlyStopping:
    """Track a validation metric; say when to stop and keep a copy of the best state.

    Parameters
    ----------
    patience:
        Stop after this many evaluations without improvement.
    mode:
        ``"max"`` (higher is better, e.g. nDCG) or ``"min"`` (e.g. RMSE).
    min_delta:
        Smallest change that counts as an improvement.
    """

    def __init__(self, patience: int, mode: str = "max", min_delta: float = 0.0) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.patience, self.mode, self.min_delta = patience, mode, min_delta
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._bad = 0

    def _better(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def step(self, value: float, epoch: int, state: Callable[[], dict[str, torch.Tensor]]) -> bool:
        """Record ``value`` for ``epoch``; ``state()`` is called (and cloned) only on improvement.

        Returns ``True`` when training should stop.
        """
        if self._better(value):
            self.best_value, self.best_epoch, self._bad = float(value), epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in state().items()}
            return False
        self._bad += 1
        return self._bad >= self.patience


@contextlib.contextmanager
def epoch_progress(total: int, description: str, enabled: bool = True) -> Iterator[Callable[..., Any]]:
    """A rich progress bar over epochs, shown only when ``enabled`` and stderr is a terminal.

    Yields ``advance(**fields)``; fields such as ``loss`` or ``valid`` are shown after the bar.
    """
    show = enabled and sys.stderr.isatty()
    if not show:
        yield lambda **fields: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")

        def advance(**fields: Any) -> None:
            info = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            progress.update(task, advance=1, info=info)

        yield advance


def interaction_keys(m: sp.csr_matrix) -> np.ndarray:
    """Sorted ``user * n_items + item`` keys of the non-zeros of a CSR matrix."""
    m = m.tocsr()
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = rows * m.shape[1] + m.indices.astype(np.int64)
    keys.sort()
    return keys


class SeenLookup:
    """Membership test for (user, item) pairs of a CSR matrix: a dense bitmap when small, else sorted keys."""

    DENSE_CELLS = 64_000_000

    def __init__(self, m) -> None:
        self.n_items = int(m.shape[1])
        keys = torch.as_tensor(interaction_keys(m))
        self.dense = m.shape[0] * m.shape[1] <= self.DENSE_CELLS
        if self.dense:
            self.table = torch.zeros(m.shape[0] * m.shape[1], dtype=torch.bool)
            self.table[keys] = True
        else:
            self.table = keys

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Whether each pair ``(users[n], items[n])`` is a non-zero of the matrix (bool tensor)."""
        q = users * self.n_items + items
        if self.dense:
            return self.table[q]
        if len(self.table) == 0:
            return torch.zeros(q.shape, dtype=torch.bool)
        pos = torch.searchsorted(self.table, q).clamp_(max=len(self.table) - 1)
        return self.table[pos] == q


def ndcg_at_k(top_items: np.ndarray, users: np.ndarray, relevant: sp.csr_matrix) -> float:
    """Mean nDCG@k of ranked lists against binary relevance (METRICS.md definition).

    ``top_items`` is ``(n, k)`` (``-1`` padding allowed), ``users`` the ``(n,)`` row of
    each list in ``relevant``.  Users with no relevant item are skipped.
    """
    relevant = relevant.tocsr()
    n_rel = np.diff(relevant.indptr)[users]
    keep = n_rel > 0
    if not keep.any():
        return 0.0
    top, users, n_rel = top_items[keep], users[keep].astype(np.int64), n_rel[keep]
    k = top.shape[1]
    keys = interaction_keys(relevant)
    q = users[:, None] * relevant.shape[1] + top.astype(np.int64)
    pos = np.clip(np.searchsorted(keys, q), 0, max(len(keys) - 1, 0))
    hits = (top >= 0) & (keys[pos] == q)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    return float(((hits * disc).sum(axis=1) / ideal).mean())
