"""Item-based k-nearest-neighbours on implicit feedback (:class:`ItemKNNRecommender`)."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from pydantic import Field

from recfair.models.base import SCORE_BATCH_CELLS, Recommender
from recfair.models.config import ComponentConfig
from recfair.models.classic.baselines import check_no_penalty, pair_mean_weights

log = logging.getLogger(__name__)


class ItemKNNRecommender(Recommender):
    """Item–item cosine similarity with shrinkage, pruned to each item's nearest neighbours.

    With ``x_u`` the binary training row of user ``u`` (items as columns):

    * ``sim(i, j) = x_{·i}·x_{·j} / (‖x_{·i}‖‖x_{·j}‖ + shrink)`` for ``i ≠ j``
      (for binary data, co-occurrence count over the square root of the two
      popularities, plus ``shrink``);
    * each item ``j`` keeps its ``neighbors`` most similar items ``i`` with
      ``sim > min_similarity`` (ties: lower item index), giving a sparse matrix
      ``S`` with at most ``neighbors`` entries per row;
    * ``score(u, i) = Σ_{j ∈ S_u} S[j, i]`` — one sparse product ``x_u S``.

    Parameters
    ----------
    neighbors:
        Neighbours kept per item.
    shrink:
        Added to the cosine denominator; damps similarities built on few co-occurrences.
    min_similarity:
        Similarities at or below this value are dropped.

    Notes
    -----
    ``sample_weight`` replaces the 1s of the interaction matrix by the (mean, per
    user–item pair) weight when computing similarities; scoring still sums over the
    user's training items.

    Examples
    --------
    >>> import pandas as pd
    >>> from recfair.data import Dataset
    >>> df = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"]})
    >>> model = ItemKNNRecommender(neighbors=5).fit(Dataset.from_frame(df))
    >>> model.recommend([2], k=1).items.tolist()   # user 3 saw "a"; "b" co-occurs with it
    [[1]]
    """

    name = "itemknn"
    uses_sample_weight = True

    class Config(ComponentConfig):
        """Hyper-parameters of :class:`ItemKNNRecommender`."""

        neighbors: int = Field(20, ge=1, description="neighbours kept per item")
        shrink: float = Field(0.0, ge=0, description="added to the cosine denominator; damps similarities built on few co-occurrences")
        min_similarity: float = Field(0.0, description="similarities at or below this value are dropped")

    def fit(self, train, valid=None, *, sample_weight=None, penalty=None) -> "ItemKNNRecommender":
        """Build the pruned item–item cosine matrix ``similarity_`` from the (weighted) interactions.

        A ``penalty`` is refused; ``valid`` is not used.
        """
        check_no_penalty(self, penalty)
        self._start_fit(train, sample_weight)
        k, shrink = self.neighbors, self.shrink
        if sample_weight is None:
            x = train.matrix.astype(np.float64)
        else:
            u, i, w = pair_mean_weights(train, sample_weight)
            x = sp.csr_matrix((w, (u, i)), shape=(train.n_users, train.n_items))
        self.similarity_ = _pruned_cosine(x, k, shrink, float(self.min_similarity))
        log.info("ItemKNN: %d similarities kept for %d items", self.similarity_.nnz, train.n_items)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """Per item, the summed similarity to the user's training items (``seen_ @ similarity_``)."""
        users = self._check_users(users)
        s = self.seen_[users] @ self.similarity_
        return s.toarray().astype(np.float32, copy=False)

    def _get_state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {
            "similarity.data": s.data.astype(np.float32),
            "similarity.indices": s.indices.astype(np.int32),
            "similarity.indptr": s.indptr.astype(np.int64),
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        n = self.n_items_
        self.similarity_ = sp.csr_matrix(
            (state["similarity.data"], state["similarity.indices"], state["similarity.indptr"]), shape=(n, n)
        )


def _pruned_cosine(x: sp.csr_matrix, k: int, shrink: float, min_sim: float) -> sp.csr_matrix:
    """Row-wise top-``k`` of the shrunk item–item cosine of the columns of ``x``, as float32 CSR.

    Computed in blocks of rows so memory stays bounded by ``SCORE_BATCH_CELLS`` dense cells.
    """
    n = x.shape[1]
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1)).ravel())
    step = max(1, SCORE_BATCH_CELLS // max(1, n))
    indptr = [np.zeros(1, dtype=np.int64)]
    indices, data = [], []
    offset = 0
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = (xt[start:stop] @ x).toarray()
        block /= norms[start:stop, None] * norms[None, :] + shrink + 1e-30
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-similarity
        cols, vals, counts = _top_k_rows(block, k, min_sim)
        indices.append(cols)
        data.append(vals)
        indptr.append(offset + np.cumsum(counts))
        offset += int(counts.sum())
    return sp.csr_matrix(
        (np.concatenate(data).astype(np.float32), np.concatenate(indices).astype(np.int32), np.concatenate(indptr)),
        shape=(n, n),
    )


def _top_k_rows(block: np.ndarray, k: int, min_sim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the ``k`` largest entries above ``min_sim`` (ties: lower column), in column order."""
    rows, n = block.shape
    if k < n:
        thr = -np.partition(-block, k - 1, axis=1)[:, k - 1 : k]
        keep = block > thr
        tied = block == thr
        need = k - keep.sum(axis=1, keepdims=True)
        keep |= tied & (np.cumsum(tied, axis=1) <= need)
    else:
        keep = np.ones_like(block, dtype=bool)
    keep &= block > max(min_sim, 0.0)
    r, c = np.nonzero(keep)
    return c, block[r, c], keep.sum(axis=1)
