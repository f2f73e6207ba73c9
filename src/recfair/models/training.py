"""The one training loop every torch model in recfair runs (issue 10).

A model describes *what* to train as a :class:`TrainingTask` — its parameters, one
training step over a mini-batch, how to validate and how to save / restore its
state — and :class:`Trainer` owns *how*: the epoch loop, seeded batching and
shuffling, sample weights, binding an in-processing :class:`~recfair.models.base.Penalty`,
early stopping with best-state restore, gradient accumulation, an optional linear
learning-rate decay, the progress bar and torch thread scoping.  (The split
mirrors LensKit's setup / train-one-epoch / finalize protocol.)

Every run leaves one record schema, stored on the model by :meth:`TrainingResult.store`:

* ``training_log_`` — one dict per epoch: ``{"epoch": 1-based int, "loss": float,
  "valid": float or None, "seconds": float since the start}``;
* ``valid_metric_`` — the name of the validation metric (``"ndcg@10"``, ``"rmse"``);
* ``best_epoch_`` — the 1-based epoch whose parameters the model keeps.

Examples
--------
>>> import torch
>>> class Mean(TrainingTask):
...     def __init__(self):
...         self.w = torch.nn.Parameter(torch.zeros(1))
...         self.y = torch.tensor([1.0, 2.0, 3.0, 4.0])
...         self.n_examples, self.generator = 4, torch.Generator().manual_seed(0)
...     def param_groups(self):
...         return [{"params": [self.w]}]
...     def step(self, idx, with_penalty):
...         return Step((self.y[idx] - self.w) ** 2)
>>> task = Mean()
>>> result = Trainer(epochs=200, batch_size=4, learning_rate=0.05, progress=False).run(task)
>>> round(float(task.w), 2), result.training_log[0]["epoch"], result.best_epoch
(2.5, 1, 200)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from recfair.errors import RecfairError
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models import torch_kit as tk

log = logging.getLogger(__name__)

BAD_SAMPLE_WEIGHT = (
    "sample_weight must hold one non-negative finite weight per training example "
    "({n} here); got {got}."
)
BAD_OPTIMIZER = "optimizer must be 'adam' or 'adamw'; got {got!r}."
BAD_SPARSE = (
    "parameter groups marked sparse (row gradients) train with optimizer='adam' and weight_decay=0 "
    "(lazy Adam); got optimizer={got!r}, weight_decay={wd}."
)


@dataclass
class Step:
    """What a model's training step returns for one mini-batch.

    Attributes
    ----------
    losses:
        Per-example (or per-token) losses, unweighted.
    reg:
        Regulariser added to the weighted mean loss (a tensor or ``0.0``).
    penalty_batch:
        The :class:`PenaltyBatch` for an in-processing penalty (only when the
        trainer asked for one); its ``losses`` are filled in by the trainer.
    weights:
        Per-loss weights the model derived itself (e.g. each token of a sequence
        takes its interaction's sample weight); ``None``: the trainer takes the
        batch's rows of ``sample_weight`` (or no weighting).
    reduction:
        ``"mean"``: ``mean(losses · w)``; ``"weighted"``: ``sum(losses · w) / sum(w)``.
    """

    losses: torch.Tensor
    reg: torch.Tensor | float = 0.0
    penalty_batch: PenaltyBatch | None = None
    weights: torch.Tensor | None = None
    reduction: Literal["mean", "weighted"] = "mean"


class TrainingTask:
    """What a model hands to :class:`Trainer`; subclass and override.

    Required: ``n_examples`` (training examples, the unit of batching and of
    ``sample_weight``), ``generator`` (a seeded :class:`torch.Generator` for the
    default batch order), :meth:`param_groups` and :meth:`step`.  With validation:
    :meth:`validate`, :meth:`state` and :meth:`load_state`.  The other hooks are optional.
    """

    n_examples: int
    generator: torch.Generator

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups (``[{"params": [...], ...}]``).

        A group with ``"sparse": True`` holds tables read through ``gather_rows(..., sparse=True)``;
        the trainer then uses :class:`~recfair.models.torch_kit.LazyAdam` (only touched rows move).
        """
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called before the epoch's batches are drawn (e.g. to sample negatives)."""

    def batches(self, epoch: int) -> Iterable[Any] | None:
        """The epoch's mini-batches of example positions; ``None``: seeded shuffled batches."""
        return None

    def step(self, idx: Any, with_penalty: bool) -> Step:
        """Losses of the examples ``idx``; build a :class:`PenaltyBatch` when ``with_penalty``."""
        raise NotImplementedError

    def end_epoch(self, epoch: int) -> None:
        """Called after the epoch's last step, before validation (e.g. refresh caches)."""

    def validate(self) -> float:
        """The validation metric of the current parameters."""
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor]:
        """The trainable state to keep when validation improves (cloned by the trainer)."""
        raise NotImplementedError

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a state returned by :meth:`state`."""
        raise NotImplementedError

    def finish(self, restored: bool) -> None:
        """Called once after training (``restored``: the best state was loaded back)."""


class FullBatchTask(TrainingTask):
    """A task whose every epoch is one step over all examples (the fold-in loops of ``observe``).

    ``step_fn()`` computes the losses of all ``n_examples`` examples with the current
    ``params`` (drawing fresh negatives, say); run it with ``Trainer(batch_size=None)``.
    """

    def __init__(self, params: Iterable[torch.Tensor], step_fn: Callable[[], Step], n_examples: int) -> None:
        self.params, self.step_fn, self.n_examples = list(params), step_fn, int(n_examples)

    def param_groups(self) -> list[dict[str, Any]]:
        """The one group of ``params``."""
        return [{"params": self.params}]

    def step(self, idx: Any, with_penalty: bool) -> Step:
        """``step_fn()``: the losses of every example."""
        return self.step_fn()


@dataclass
class TrainingResult:
    """The record of one :meth:`Trainer.run`: the log, the metric's name and the kept epoch."""

    training_log: list[dict[str, Any]] = field(default_factory=list)
    valid_metric: str | None = None
    best_epoch: int = 0

    def store(self, model: Any) -> None:
        """Set ``training_log_``, ``valid_metric_`` and ``best_epoch_`` on ``model``."""
        model.training_log_ = self.training_log
        model.valid_metric_ = self.valid_metric
        model.best_epoch_ = self.best_epoch


def use_penalty(penalty: Penalty | None) -> bool:
    """Whether ``penalty`` takes part in training (given, with a non-zero ``lambda_``)."""
    return penalty is not None and float(penalty.lambda_) != 0.0


def check_sample_weight(sample_weight: Any, n: int) -> torch.Tensor | None:
    """``sample_weight`` as a float32 tensor of length ``n`` (``None`` stays ``None``)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float32)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise RecfairError(BAD_SAMPLE_WEIGHT.format(n=n, got=f"shape {w.shape}" if w.shape != (n,) else "invalid values"))
    return torch.from_numpy(w)


class Trainer:
    """Run a :class:`TrainingTask` for ``epochs`` epochs (see the module docstring).

    Parameters
    ----------
    epochs, batch_size, learning_rate:
        The usual; ``batch_size=None`` trains full-batch (all examples, in order, one step per epoch).
    patience:
        Epochs without improvement of the validation metric before stopping (with validation).
    valid_metric, valid_mode:
        Name of the validation metric and whether higher (``"max"``) or lower (``"min"``) is better.
    optimizer, weight_decay:
        ``"adam"`` (``weight_decay`` per parameter group only) or ``"adamw"`` (decoupled decay).
    lr_decay:
        Decay the learning rate linearly to 0 over all steps of all epochs.
    accumulation_steps:
        Mini-batches whose gradients are summed before each optimiser step.
    max_batches:
        Cap on mini-batches per epoch (``None``: every example once).
    threads, progress, description:
        Torch intra-op threads while training (``None``: leave as is); show a progress
        bar (only when stderr is a terminal) labelled ``description``.
    on_epoch_end:
        Called with the 1-based epoch after each epoch's record (e.g. a checkpoint).
    """

    def __init__(
        self, *, epochs: int, batch_size: int | None, learning_rate: float, patience: int = 1,
        valid_metric: str = "ndcg@10", valid_mode: Literal["max", "min"] = "max",
        optimizer: Literal["adam", "adamw"] = "adam", weight_decay: float = 0.0, lr_decay: bool = False,
        accumulation_steps: int = 1, max_batches: int | None = None, threads: int | None = None,
        progress: bool = True, description: str = "training", on_epoch_end: Callable[[int], None] | None = None,
    ) -> None:
        if optimizer not in ("adam", "adamw"):
            raise RecfairError(BAD_OPTIMIZER.format(got=optimizer))
        self.epochs, self.learning_rate = int(epochs), float(learning_rate)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.patience, self.valid_metric, self.valid_mode = int(patience), valid_metric, valid_mode
        self.optimizer, self.weight_decay, self.lr_decay = optimizer, float(weight_decay), bool(lr_decay)
        self.accumulation_steps, self.max_batches = int(accumulation_steps), max_batches
        self.threads, self.progress, self.description = threads, progress, description
        self.on_epoch_end = on_epoch_end

    # ------------------------------------------------------------------ run
    def run(
        self, task: TrainingTask, *, train: Any = None, sample_weight: Any = None,
        penalty: Penalty | None = None, validate: bool = False,
    ) -> TrainingResult:
        """Train ``task`` in place and return its :class:`TrainingResult`.

        ``train`` is the training Dataset a penalty is bound to; ``validate`` turns on
        early stopping on ``task.validate()``.  A penalty with ``lambda_ == 0`` is
        ignored: training is then identical to training without one.
        """
        with tk.torch_threads(self.threads):
            return self._run(task, train, sample_weight, penalty, validate)

    def _optimizer(self, task: TrainingTask, penalty: Penalty | None, train: Any) -> torch.optim.Optimizer:
        groups = [g for g in task.param_groups() if g["params"]]
        if penalty is not None:
            penalty.bind(train)
            extra = list(penalty.parameters())
            if extra:
                groups.append({"params": extra})
        if any(g.get("sparse") for g in groups):  # row-sparse gradients: a step costs O(batch), not O(table)
            if self.optimizer != "adam" or self.weight_decay:
                raise RecfairError(BAD_SPARSE.format(got=self.optimizer, wd=self.weight_decay))
            return tk.LazyAdam(groups, lr=self.learning_rate)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=self.learning_rate, weight_decay=self.weight_decay)
        return torch.optim.Adam(groups, lr=self.learning_rate)

    def _scheduler(self, opt: torch.optim.Optimizer, n_examples: int):
        if not self.lr_decay:
            return None
        size = self.batch_size or max(n_examples, 1)
        n_steps = self.epochs * ((n_examples + size - 1) // size)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / n_steps))

    def _run(self, task, train, sample_weight, penalty, validate) -> TrainingResult:
        penalty = penalty if use_penalty(penalty) else None
        weights = check_sample_weight(sample_weight, task.n_examples)
        opt = self._optimizer(task, penalty, train)
        sched = self._scheduler(opt, task.n_examples)
        stopper = tk.EarlyStopping(self.patience, mode=self.valid_mode) if validate else None
        result = TrainingResult(valid_metric=self.valid_metric if validate else None)
        t0 = time.perf_counter()
        with tk.epoch_progress(self.epochs, self.description, self.progress) as advance:
            for epoch in range(1, self.epochs + 1):
                loss = self._epoch(task, epoch, opt, sched, weights, penalty)
                task.end_epoch(epoch)
                record = {"epoch": epoch, "loss": loss, "valid": None, "seconds": 0.0}
                stop = False
                if stopper is not None:
                    with torch.no_grad():
                        record["valid"] = float(task.validate())
                    stop = stopper.step(record["valid"], epoch, task.state)
                record["seconds"] = time.perf_counter() - t0
                result.training_log.append(record)
                log.debug("%s epoch %d: %s", self.description, epoch, record)
                advance(**{"loss": loss, **({self.valid_metric: record["valid"]} if stopper is not None else {})})
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch)
                if stop:
                    break
        result.best_epoch = len(result.training_log)
        restored = stopper is not None and stopper.best_state is not None
        if restored:
            task.load_state(stopper.best_state)
            result.best_epoch = stopper.best_epoch
        task.finish(restored)
        return result

    def _epoch(self, task, epoch, opt, sched, weights, penalty) -> float:
        """One pass over the task's batches; returns the example-weighted mean batch loss."""
        task.start_epoch(epoch)
        batches = task.batches(epoch)
        if batches is None and self.batch_size is None:
            batches = [torch.arange(task.n_examples)]
        elif batches is None:
            batches = tk.shuffled_batches(task.n_examples, self.batch_size, task.generator)
        acc = self.accumulation_steps
        total, seen, b = 0.0, 0, -1
        opt.zero_grad(set_to_none=True)
        for b, idx in enumerate(batches):
            if self.max_batches is not None and b >= self.max_batches:
                b -= 1
                break
            loss = self._loss(task.step(idx, penalty is not None), idx, weights, penalty)
            (loss if acc == 1 else loss / acc).backward()
            if (b + 1) % acc == 0:
                self._update(opt, sched)
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if (b + 1) % acc != 0:  # a last, partial accumulation
            self._update(opt, sched)
        return total / max(seen, 1)

    @staticmethod
    def _update(opt: torch.optim.Optimizer, sched) -> None:
        opt.step()
        opt.zero_grad(set_to_none=True)
        if sched is not None:
            sched.step()

    @staticmethod
    def _loss(step: Step, idx: Any, weights: torch.Tensor | None, penalty: Penalty | None) -> torch.Tensor:
        """The batch loss: weighted losses reduced, plus the regulariser and the penalty term."""
        w = step.weights
        if w is None and weights is not None:
            w = weights[torch.as_tensor(idx)].to(step.losses.device)
        weighted = step.losses if w is None else step.losses * w
        if step.reduction == "weighted":
            denom = torch.tensor(float(len(weighted))) if w is None else w.sum().clamp_min(1e-12)
            loss = weighted.sum() / denom
        else:
            loss = weighted.mean()
        loss = loss + step.reg
        if penalty is not None and step.penalty_batch is not None:
            step.penalty_batch.losses = weighted
            loss = loss + penalty(step.penalty_batch)
        return loss


__all__ = ["BAD_OPTIMIZER", "BAD_SAMPLE_WEIGHT", "BAD_SPARSE", "FullBatchTask", "Step", "Trainer", "TrainingResult", "TrainingTask",
           "check_sample_weight", "use_penalty"]
