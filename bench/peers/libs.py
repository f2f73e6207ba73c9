"""One adapter per library: train its BPR for ``epochs`` from scratch, and its top-10 for every user.

Every adapter uses the library's own public API (what a user of that library
would call), 64 factors, the given seed and thread count, and the library's
defaults for everything else (learning rate, regularisation, batch size,
negative sampling).  The top-10 lists exclude each user's training items, with
the library's own filter, and come back as recfair indices so that recfair's
evaluator scores every library the same way.

* recfair — ``create_model("bpr")`` (BPR-MF, torch), ``recommend(users, k=10)``.
* implicit — ``implicit.cpu.bpr.BayesianPersonalizedRanking``, ``recommend(..., filter_already_liked_items=True)``.
* lenskit — ``FlexMFImplicitScorer`` with ``preset="bpr"`` (LensKit's BPR: pairwise
  loss, uniform negatives, torch), in ``topn_pipeline``; ``lenskit.batch.recommend``
  (its default candidate selector drops the user's training items).
* cornac — ``cornac.models.BPR`` (Cython SGD), ``recommend(user_id, k=10, remove_seen=True)``
  user by user (cornac 3 has no batch call).  With a seed, cornac trains on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

LIBRARIES = ("recfair", "implicit", "lenskit", "cornac")
DEFAULT_EPOCHS = {"recfair": 20, "implicit": 100, "lenskit": 10, "cornac": 100}
FACTORS = 64
K = 10


@dataclass
class Data:
    """A recfair split and the training interactions as a users × items CSR matrix (float32, 1 = seen)."""

    split: Any
    csr: sp.csr_matrix

    @property
    def n_users(self) -> int:
        """Number of users in the index space."""
        return int(self.csr.shape[0])


def make_data(split: Any) -> Data:
    """Wrap ``split`` with its binary training matrix."""
    tr = split.train
    m = sp.csr_matrix((np.ones(len(tr.user), dtype=np.float32), (tr.user, tr.item)),
                      shape=(tr.n_users, tr.n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return Data(split, m)


# --- recfair -----------------------------------------------------------------------------------
def fit_recfair(data: Data, epochs: int, seed: int, threads: int) -> Any:
    """recfair's BPR-MF with ``epochs`` epochs (no validation set, so no early stopping)."""
    from recfair.models.registry import create_model

    model = create_model("bpr", epochs=epochs, seed=seed, embedding_size=FACTORS,
                         runtime={"threads": threads, "progress": False})
    return model.fit(data.split.train)


def top_recfair(model: Any, data: Data) -> np.ndarray:
    """``(n_users, K)`` item indices from ``recommend`` (training items excluded by recfair)."""
    return model.recommend(np.arange(data.n_users), k=K).items


# --- implicit ----------------------------------------------------------------------------------
def fit_implicit(data: Data, epochs: int, seed: int, threads: int) -> Any:
    """implicit's CPU BPR with ``epochs`` iterations."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(factors=FACTORS, iterations=epochs, random_state=seed, num_threads=threads)
    model.fit(data.csr, show_progress=False)
    return model


def top_implicit(model: Any, data: Data) -> np.ndarray:
    """Batch ``recommend`` for every user, training items filtered by implicit."""
    ids, _ = model.recommend(np.arange(data.n_users), data.csr, N=K, filter_already_liked_items=True)
    return np.asarray(ids, dtype=np.int64)


# --- lenskit -----------------------------------------------------------------------------------
@dataclass
class LenskitModel:
    """A trained LensKit pipeline and the user ids to ask it for."""

    pipe: Any


def _lenskit_dataset(data: Data) -> Any:
    """LensKit dataset from the training matrix; ids are recfair's indices."""
    import pandas as pd
    from lenskit.data import from_interactions_df

    coo = data.csr.tocoo()
    return from_interactions_df(pd.DataFrame({"user_id": coo.row.astype(np.int64), "item_id": coo.col.astype(np.int64)}))


def fit_lenskit(data: Data, epochs: int, seed: int, threads: int) -> LenskitModel:
    """LensKit FlexMF with the ``bpr`` preset and ``epochs`` epochs, in a top-N pipeline."""
    import torch
    from lenskit.flexmf import FlexMFImplicitScorer
    from lenskit.pipeline import topn_pipeline
    from lenskit.training import TrainingOptions

    torch.set_num_threads(threads)
    scorer = FlexMFImplicitScorer(preset="bpr", embedding_size=FACTORS, epochs=epochs)
    pipe = topn_pipeline(scorer, n=K)
    pipe.train(_lenskit_dataset(data), TrainingOptions(rng=seed))
    return LenskitModel(pipe)


def top_lenskit(model: LenskitModel, data: Data) -> np.ndarray:
    """``lenskit.batch.recommend`` for every user (one job), as a padded index matrix."""
    from lenskit.batch import recommend

    users = np.arange(data.n_users)
    recs = recommend(model.pipe, users, n=K, n_jobs=1)
    out = np.full((data.n_users, K), -1, dtype=np.int64)
    for key, items in recs:
        ids = np.asarray(items.ids(), dtype=np.int64)[:K]
        out[int(key.user_id), : len(ids)] = ids
    return out


# --- cornac ------------------------------------------------------------------------------------
@dataclass
class CornacModel:
    """A trained cornac BPR and the cornac train set it was fitted on."""

    model: Any
    train_set: Any


def fit_cornac(data: Data, epochs: int, seed: int, threads: int) -> CornacModel:
    """cornac's BPR with ``epochs`` iterations (``max_iter``)."""
    import cornac

    coo = data.csr.tocoo()
    triples = list(zip(coo.row.tolist(), coo.col.tolist(), [1.0] * coo.nnz))
    train_set = cornac.data.Dataset.from_uir(triples, seed=seed)
    model = cornac.models.BPR(k=FACTORS, max_iter=epochs, seed=seed, num_threads=threads, verbose=False)
    model.fit(train_set)
    return CornacModel(model, train_set)


def top_cornac(model: CornacModel, data: Data) -> np.ndarray:
    """cornac's ``recommend`` user by user (raw ids are recfair's indices), seen items removed."""
    out = np.full((data.n_users, K), -1, dtype=np.int64)
    for u in model.train_set.uid_map:
        ids = model.model.recommend(u, k=K, remove_seen=True, train_set=model.train_set)
        out[int(u), : len(ids)] = np.asarray(ids, dtype=np.int64)
    return out


def top_cornac_batched(model: CornacModel, data: Data) -> np.ndarray:
    """The same lists as :func:`top_cornac` from cornac's own factors, all users at once.

    cornac's score is ``i_biases + u_factors[u] @ i_factors.T`` (``BPR.score``); used for
    the untimed points of the curve only, where calling ``recommend`` per user would
    dominate the bench's wall time.  ``run.py`` checks it against ``recommend``.
    """
    ts, m = model.train_set, model.model
    uidx = np.array(list(ts.uid_map.values()), dtype=np.int64)
    raw_u = np.array(list(ts.uid_map.keys()), dtype=np.int64)
    raw_i = np.array(list(ts.iid_map.keys()), dtype=np.int64)
    out = np.full((data.n_users, K), -1, dtype=np.int64)
    for lo in range(0, len(uidx), 4096):
        u = uidx[lo : lo + 4096]
        s = m.u_factors[u] @ m.i_factors.T + m.i_biases
        seen = ts.csr_matrix[u]
        s[np.repeat(np.arange(len(u)), np.diff(seen.indptr)), seen.indices] = -np.inf
        part = np.argpartition(-s, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        out[raw_u[lo : lo + 4096]] = raw_i[np.take_along_axis(part, order, 1)]
    return out


FAST_TOP: dict[str, Callable[[Any, Data], np.ndarray]] = {"cornac": top_cornac_batched}

ADAPTERS: dict[str, tuple[Callable[..., Any], Callable[[Any, Data], np.ndarray]]] = {
    "recfair": (fit_recfair, top_recfair),
    "implicit": (fit_implicit, top_implicit),
    "lenskit": (fit_lenskit, top_lenskit),
    "cornac": (fit_cornac, top_cornac),
}


def versions() -> dict[str, str]:
    """Installed versions of every library (and torch / numpy) in this environment."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (*LIBRARIES, "torch", "numpy", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
