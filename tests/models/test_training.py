"""The shared trainer (recfair.models.training): known answers on a one-parameter model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recfair.errors import RecfairError
from recfair.models.base import Penalty, PenaltyBatch
from recfair.models.training import BAD_OPTIMIZER, BAD_SAMPLE_WEIGHT, FullBatchTask, Step, Trainer, TrainingTask

Y = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0, 200.0])


class MeanTask(TrainingTask):
    """Fit one number ``theta`` to ``y`` by squared error: the answer is the (weighted) mean."""

    def __init__(self, y: torch.Tensor = Y, seed: int = 0, scripted_valid: list[float] | None = None) -> None:
        self.y = y
        self.theta = torch.nn.Parameter(torch.zeros(1))
        self.n_examples = len(y)
        self.generator = torch.Generator().manual_seed(seed)
        self.scripted = list(scripted_valid or [])
        self.thetas: list[float] = []  # theta after each epoch
        self.finished = None

    def param_groups(self) -> list[dict]:
        return [{"params": [self.theta]}]

    def step(self, idx, with_penalty: bool) -> Step:
        pred = self.theta.expand(len(idx))
        batch = PenaltyBatch(torch.as_tensor(idx), torch.as_tensor(idx), pred) if with_penalty else None
        return Step((self.y[idx] - pred) ** 2, penalty_batch=batch)

    def end_epoch(self, epoch: int) -> None:
        self.thetas.append(float(self.theta.detach()))

    def validate(self) -> float:
        return self.scripted.pop(0)

    def state(self) -> dict[str, torch.Tensor]:
        return {"theta": self.theta}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.theta.copy_(state["theta"])

    def finish(self, restored: bool) -> None:
        self.finished = restored


def trainer(**kw) -> Trainer:
    return Trainer(**{"epochs": 300, "batch_size": 6, "learning_rate": 0.5, "progress": False, **kw})


class PushPenalty(Penalty):
    """Pulls ``theta`` towards ``target`` through its own parameter; records how it was used."""

    def __init__(self, lambda_: float) -> None:
        self.lambda_ = lambda_
        self.offset = torch.nn.Parameter(torch.zeros(1))
        self.bound = None

    def bind(self, train) -> None:
        self.bound = train

    def parameters(self) -> list:
        return [self.offset]

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        return self.lambda_ * ((batch.predictions.mean() - 10.0) ** 2 + (self.offset - 1.0).pow(2).sum())


def test_loss_decreases_and_the_answer_is_the_mean():
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    task = MeanTask(y)
    result = trainer().run(task)
    losses = [r["loss"] for r in result.training_log]
    assert losses[-1] < losses[0] / 2 and losses[-1] == pytest.approx(1.25, abs=1e-3)  # the variance of y
    assert float(task.theta) == pytest.approx(2.5, abs=1e-2)


def test_record_schema_is_one_based_with_no_validation():
    result = trainer(epochs=3).run(MeanTask())
    assert [r["epoch"] for r in result.training_log] == [1, 2, 3]
    assert all(set(r) == {"epoch", "loss", "valid", "seconds"} and r["valid"] is None for r in result.training_log)
    assert result.best_epoch == 3 and result.valid_metric is None


def test_early_stopping_restores_the_best_one_based_epoch():
    task = MeanTask(scripted_valid=[0.1, 0.5, 0.3, 0.2, 0.9])
    result = trainer(epochs=5, patience=2, learning_rate=0.1, valid_metric="ndcg@10").run(task, validate=True)
    assert [r["valid"] for r in result.training_log] == [0.1, 0.5, 0.3, 0.2]  # stopped after 2 bad epochs
    assert result.best_epoch == 2 and result.valid_metric == "ndcg@10" and task.finished is True
    assert float(task.theta) == task.thetas[1]  # epoch 2's parameters are back


def test_early_stopping_min_mode_keeps_the_lowest():
    task = MeanTask(scripted_valid=[3.0, 2.0, 1.0, 1.5, 1.2])
    result = trainer(epochs=5, patience=3, valid_mode="min", valid_metric="rmse").run(task, validate=True)
    assert result.best_epoch == 3 and float(task.theta) == task.thetas[2]


def test_zero_sample_weights_drop_examples():
    task = MeanTask()
    trainer().run(task, sample_weight=np.array([1, 1, 1, 1, 0, 0], dtype=np.float32))
    assert float(task.theta) == pytest.approx(2.5, abs=1e-2)  # 100 and 200 never count


def test_bad_sample_weight_is_refused():
    with pytest.raises(RecfairError) as exc:
        trainer().run(MeanTask(), sample_weight=np.ones(3))
    assert str(exc.value) == BAD_SAMPLE_WEIGHT.format(n=6, got="shape (3,)")


def test_bad_optimizer_is_refused():
    with pytest.raises(RecfairError) as exc:
        Trainer(epochs=1, batch_size=1, learning_rate=1.0, optimizer="sgd")
    assert str(exc.value) == BAD_OPTIMIZER.format(got="sgd")


def test_zero_lambda_penalty_trains_bit_identically_and_is_never_touched():
    plain, zero = MeanTask(), MeanTask()
    pen = PushPenalty(0.0)
    trainer(epochs=20, batch_size=2).run(plain)
    trainer(epochs=20, batch_size=2).run(zero, train="train-set", penalty=pen)
    assert torch.equal(plain.theta, zero.theta)
    assert pen.bound is None and float(pen.offset) == 0.0


def test_nonzero_penalty_is_bound_added_and_its_parameters_optimised():
    task, pen = MeanTask(), PushPenalty(100.0)
    trainer(learning_rate=0.5).run(task, train="train-set", penalty=pen)
    assert pen.bound == "train-set"
    assert float(pen.offset) == pytest.approx(1.0, abs=0.05)
    assert abs(float(task.theta) - 10.0) < abs(float(Y.mean()) - 10.0) / 2  # pulled towards 10


def test_same_seed_same_parameters_other_seed_other_order():
    runs = []
    for seed in (0, 0, 1):
        task = MeanTask(seed=seed)
        trainer(epochs=5, batch_size=2, learning_rate=0.3).run(task)
        runs.append(float(task.theta))
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_accumulation_and_max_batches_count_steps():
    steps = []

    class Counting(MeanTask):
        def step(self, idx, with_penalty):
            steps.append(len(idx))
            return super().step(idx, with_penalty)

    task = Counting()
    opt_steps = []
    t = trainer(epochs=1, batch_size=1, accumulation_steps=2, max_batches=5)
    original = Trainer._update
    Trainer._update = staticmethod(lambda opt, sched: (opt_steps.append(1), original(opt, sched)))
    try:
        t.run(task)
    finally:
        Trainer._update = staticmethod(original)
    assert steps == [1] * 5 and len(opt_steps) == 3  # 2 + 2 + a last partial one


def test_lr_decay_reaches_zero_and_threads_are_restored():
    before = torch.get_num_threads()
    task = MeanTask()
    trainer(epochs=2, lr_decay=True, threads=1).run(task)
    assert torch.get_num_threads() == before
    last = float(task.theta)
    assert np.isfinite(last)


def test_full_batch_is_one_step_per_epoch_over_every_example_in_order():
    theta = torch.nn.Parameter(torch.zeros(1))
    calls = []

    def step() -> Step:
        calls.append(float(theta.detach()))
        return Step((Y - theta) ** 2)

    result = Trainer(epochs=50, batch_size=None, learning_rate=0.5, progress=False).run(FullBatchTask([theta], step, len(Y)))
    assert len(calls) == 50 and [r["epoch"] for r in result.training_log] == list(range(1, 51))
    # the same 50 Adam steps written out by hand give the same parameter, bit for bit
    ref = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([ref], lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        ((Y - ref) ** 2).mean().backward()
        opt.step()
    assert float(theta.detach()) == float(ref.detach())
    assert result.training_log[0]["loss"] == pytest.approx(float((Y ** 2).mean()))


def test_full_batch_with_lr_decay_counts_one_step_per_epoch():
    theta = torch.nn.Parameter(torch.zeros(1))
    task = FullBatchTask([theta], lambda: Step((Y - theta) ** 2), len(Y))
    Trainer(epochs=4, batch_size=None, learning_rate=0.5, lr_decay=True, progress=False).run(task)
    moved = float(theta.detach())
    assert 0.0 < moved < 4 * 0.5 + 1e-6  # four shrinking Adam steps of at most lr each
