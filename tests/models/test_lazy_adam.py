"""Row-sparse gradients and lazy Adam: the fix for BPR-MF / MF epochs growing super-linearly (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recfair.data import make_synthetic
from recfair.errors import RecfairError
from recfair.models import torch_kit as tk
from recfair.models.classic.mf import BPRRecommender, MFRecommender
from recfair.models.training import BAD_SPARSE, FullBatchTask, Step, Trainer


def _loss(rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((rows - target) ** 2).sum()


@pytest.mark.parametrize("shape", [(6, 3), (6,)])
def test_sparse_gather_gives_the_dense_gradient_on_its_rows(shape):
    idx = torch.tensor([4, 1, 4, 0])
    dense = torch.nn.Parameter(torch.arange(np.prod(shape), dtype=torch.float32).reshape(shape))
    sparse = torch.nn.Parameter(dense.detach().clone())
    target = torch.ones((len(idx), *shape[1:]))
    _loss(tk.gather_rows(dense, idx), target).backward()
    _loss(tk.gather_rows(sparse, idx, sparse=True), target).backward()
    assert sparse.grad.is_sparse and not dense.grad.is_sparse
    assert torch.equal(sparse.grad.to_dense(), dense.grad)
    with torch.no_grad():  # no autograd: a plain gather
        assert not tk.gather_rows(sparse, idx, sparse=True).requires_grad


def _train(optimizer, param, steps, batches, sparse):
    for idx in batches[:steps]:
        optimizer.zero_grad(set_to_none=True)
        _loss(tk.gather_rows(param, idx, sparse=sparse), torch.zeros((len(idx), *param.shape[1:]))).backward()
        optimizer.step()


@pytest.mark.parametrize("n_rows", [8, 200])  # small table: dense scatter; large: unique + index_add
def test_lazy_adam_equals_adam_when_every_row_is_in_every_batch(n_rows):
    g = tk.make_generator(0)
    start = torch.randn(n_rows, 4, generator=g)
    batches = [torch.cat([torch.randperm(n_rows, generator=g), torch.randint(n_rows, (5,), generator=g)])
               for _ in range(6)]
    ref, lazy, lazy_dense = (torch.nn.Parameter(start.clone()) for _ in range(3))
    _train(torch.optim.Adam([ref], lr=0.05), ref, 6, batches, sparse=False)
    _train(tk.LazyAdam([lazy], lr=0.05), lazy, 6, batches, sparse=True)
    _train(tk.LazyAdam([lazy_dense], lr=0.05), lazy_dense, 6, batches, sparse=False)
    assert torch.allclose(lazy, ref, atol=1e-6) and torch.allclose(lazy_dense, ref, atol=1e-6)


def test_lazy_adam_leaves_rows_outside_the_batch_alone():
    p = torch.nn.Parameter(torch.ones(50, 2))
    opt = tk.LazyAdam([p], lr=0.1)
    batches = [torch.tensor([3, 7, 3]), torch.tensor([7])]
    _train(opt, p, 2, batches, sparse=True)
    moved = torch.nonzero((p != 1).any(1)).squeeze(1).tolist()
    assert moved == [3, 7]
    assert torch.count_nonzero(opt.state[p]["moments"][[0, 1, 2, 4]]) == 0
    # row 3 was updated once (step 1), row 7 twice: after two Adam steps of a constant
    # gradient each step moves by lr, the first-step move of row 3 stays as it was
    assert torch.allclose(p[3], torch.full((2,), 0.9)) and torch.allclose(p[7], torch.full((2,), 0.8), atol=1e-3)


def test_sparse_rows_pay_known_answers():
    assert tk.sparse_rows_pay((20_000, 64), 4096) and tk.sparse_rows_pay((100_000,), 4096)
    assert not tk.sparse_rows_pay((5000, 64), 4096) and not tk.sparse_rows_pay((50_000,), 4096)
    assert not tk.sparse_rows_pay((943, 64), 4096)  # ML-100K keeps dense Adam: numbers unchanged


def test_trainer_refuses_sparse_groups_with_adamw():
    p = torch.nn.Parameter(torch.zeros(3, 2))
    task = FullBatchTask([p], lambda: Step(tk.gather_rows(p, torch.tensor([0]), sparse=True).sum(1)), 1)
    task.param_groups = lambda: [{"params": [p], "sparse": True}]
    with pytest.raises(RecfairError) as err:
        Trainer(epochs=1, batch_size=None, learning_rate=0.1, optimizer="adamw", progress=False).run(task)
    assert str(err.value) == BAD_SPARSE.format(got="adamw", wd=0.0)


@pytest.mark.parametrize("cls", [BPRRecommender, MFRecommender])
def test_factor_models_go_row_sparse_only_for_tables_larger_than_a_batch(cls):
    ds = make_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0)
    default = cls(embedding_size=16, epochs=2, seed=0, runtime={"progress": False}).fit(ds)
    assert default._row_sparse == frozenset()  # tables smaller than a batch: the old dense Adam
    small = {"embedding_size": 16, "epochs": 3, "batch_size": 8, "seed": 0, "runtime": {"progress": False}}
    a, b = cls(**small).fit(ds), cls(**small).fit(ds)
    assert {"user_factors", "item_factors"} <= a._row_sparse
    assert np.array_equal(a.score(np.arange(ds.n_users)), b.score(np.arange(ds.n_users)))  # same seed, same numbers
    assert a.training_log_[-1]["loss"] < a.training_log_[0]["loss"]


def test_bpr_validation_in_user_chunks_matches_one_block(monkeypatch):
    from recfair.data import make_split
    from recfair.models.classic import mf

    split = make_split(make_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0), "random",
                       test_size=0.2, seed=0)
    params = {"embedding_size": 8, "epochs": 3, "seed": 0, "runtime": {"progress": False}}
    whole = BPRRecommender(**params).fit(split.train, split.test)
    monkeypatch.setattr(mf, "SCORE_BATCH_CELLS", 7 * 40)  # 7 users a chunk
    chunked = BPRRecommender(**params).fit(split.train, split.test)
    assert [h["valid"] for h in chunked.training_log_] == [h["valid"] for h in whole.training_log_]
