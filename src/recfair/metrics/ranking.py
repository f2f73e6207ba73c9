"""Top-k accuracy metrics, one value per user (METRICS.md, "Accuracy").

Every function has the signature ``(recs, test, k) -> np.ndarray``: a float64
array aligned with ``recs.users``, ``nan`` for users whose test set ``T_u`` is
empty (they are excluded from means and counted by :func:`recfair.metrics.evaluate`).

Conventions shared by all of them:

* Only the first ``k`` positions count.  Lists shorter than ``k`` (padding
  :data:`~recfair.recommendations.PAD` entries, or ``recs.k < k``) count the
  missing positions as misses; precision still divides by ``k``.
* An item repeated within one list counts as a hit only at its first position.
* Relevance is binary: ``j ∈ T_u`` iff ``(u, j)`` is a test interaction.

Everything is computed from one boolean ``(n, k)`` hit matrix built with a
single vectorised sorted-key lookup, so thousands of users × k = 100 take
milliseconds and no result depends on any batch size.
"""

from __future__ import annotations

import numpy as np

from recfair.errors import RecfairError, check_positive_int
from recfair.recommendations import PAD, Recommendations

__all__ = [
    "hit_matrix",
    "hit_rate",
    "hits_from_lists",
    "map_at_k",
    "mrr",
    "ndcg",
    "position_weights",
    "precision",
    "recall",
    "relevant_counts",
]

BAD_USERS = "Recommendations hold user index {value}, outside the test set's {n} users (indices 0..{last})."
BAD_ITEMS = "Recommendations hold item index {value}, outside the test set's {n} items (indices 0..{last}, or -1 for padding)."


def position_weights(k: int) -> np.ndarray:
    """Position weights ``w_i = 1 / log2(i + 1)`` for ranks ``i = 1..k`` (float64)."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def check_lists(recs: Recommendations, n_users: int, n_items: int) -> None:
    """Raise :class:`RecfairError` if ``recs`` does not fit an index space."""
    if len(recs) and (recs.users.min() < 0 or recs.users.max() >= n_users):
        bad = recs.users[(recs.users < 0) | (recs.users >= n_users)][0]
        raise RecfairError(BAD_USERS.format(value=int(bad), n=n_users, last=n_users - 1))
    if recs.items.size and (recs.items.min() < PAD or recs.items.max() >= n_items):
        bad = recs.items[(recs.items < PAD) | (recs.items >= n_items)][0]
        raise RecfairError(BAD_ITEMS.format(value=int(bad), n=n_items, last=n_items - 1))


def lists_at_k(recs: Recommendations, k: int) -> np.ndarray:
    """``(n, k)`` item matrix: the first ``k`` positions, padded with PAD if ``recs.k < k``.

    Repeated items within a row are replaced by PAD after their first occurrence,
    so a duplicate can never count twice (as a hit, as exposure or for coverage).
    """
    k = check_positive_int(k, "k", "metrics")
    items = recs.items[:, :k]
    if items.shape[1] < k:
        pad = np.full((items.shape[0], k - items.shape[1]), PAD, dtype=np.int32)
        items = np.concatenate([items, pad], axis=1)
    if items.size == 0 or k == 1:
        return items
    srt = np.sort(items, axis=1)
    if not ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] != PAD)).any():
        return items  # the usual case: no repeats, no argsort needed
    order = np.argsort(items, axis=1, kind="stable")
    srt = np.take_along_axis(items, order, axis=1)
    dup_sorted = np.zeros(items.shape, dtype=bool)
    dup_sorted[:, 1:] = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] != PAD)
    dup = np.zeros(items.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)  # stable sort ⇒ the first occurrence is kept
    items = items.copy()
    items[dup] = PAD
    return items


def relevant_counts(recs: Recommendations, test) -> np.ndarray:
    """``|T_u|`` for each user of ``recs`` (int64)."""
    check_lists(recs, test.n_users, test.n_items)
    return np.diff(test.matrix.indptr)[recs.users].astype(np.int64)


def hit_matrix(recs: Recommendations, test, k: int) -> np.ndarray:
    """Boolean ``(n, k)``: position ``i`` of user ``u``'s list holds an item of ``T_u``.

    One ``searchsorted`` of the ``(user, item)`` keys of all lists into the sorted
    keys of the test matrix — no loop over users.
    """
    check_lists(recs, test.n_users, test.n_items)
    return hits_from_lists(recs.users, lists_at_k(recs, k), test)


def hits_from_lists(users: np.ndarray, items: np.ndarray, test) -> np.ndarray:
    """:func:`hit_matrix` for lists already cut by :func:`lists_at_k` (indices already checked)."""
    m = test.matrix
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    if m.nnz == 0:
        return np.zeros(items.shape, dtype=bool)
    n_items = np.int64(test.n_items)
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = rows * n_items + m.indices.astype(np.int64)  # sorted: CSR rows in order, indices sorted
    query = users.astype(np.int64)[:, None] * n_items + items.astype(np.int64)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (keys[pos] == query) & (items != PAD)


def _with_nan(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``values`` as float64 with ``nan`` where the user has no test items."""
    out = np.asarray(values, dtype=np.float64)
    out[sizes == 0] = np.nan
    return out


# The *_from_hits helpers let evaluate() build the hit matrix once for every metric.
def precision_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`precision` from a precomputed hit matrix.

    ``hits`` is the boolean ``(n, k)`` matrix of :func:`hit_matrix`, ``sizes`` the ``|T_u|`` of :func:`relevant_counts`; float64 per row, ``nan`` where ``sizes == 0``.
    """
    return _with_nan(hits.sum(axis=1) / hits.shape[1], sizes)


def recall_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`recall`: hits in the row divided by ``sizes`` (arguments as :func:`precision_from_hits`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _with_nan(hits.sum(axis=1) / sizes, sizes)


def hit_rate_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`hit_rate`: 1.0 if the row has any hit (arguments as :func:`precision_from_hits`)."""
    return _with_nan(hits.any(axis=1).astype(np.float64), sizes)


def ndcg_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`ndcg`: the row's DCG over the ideal DCG of ``min(k, sizes)`` hits.

    Arguments as :func:`precision_from_hits`; ``k`` is ``hits.shape[1]``.
    """
    k = hits.shape[1]
    w = position_weights(k)
    dcg = hits.astype(np.float64) @ w
    ideal = np.cumsum(w)[np.clip(np.minimum(sizes, k) - 1, 0, None)]
    return _with_nan(dcg / ideal, sizes)


def mrr_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`mrr`: ``1 / (1 + position of the first hit)``, 0 without one (arguments as :func:`precision_from_hits`)."""
    first = hits.argmax(axis=1)
    rr = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return _with_nan(rr, sizes)


def map_from_hits(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-user :func:`map_at_k`: mean precision at each hit position over ``min(k, sizes)``.

    Arguments as :func:`precision_from_hits`; ``k`` is ``hits.shape[1]``.
    """
    k = hits.shape[1]
    h = hits.astype(np.float64)
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    denom = np.maximum(np.minimum(sizes, k), 1)
    return _with_nan((prec_at_i * h).sum(axis=1) / denom, sizes)


_PARAMS = """

    Parameters
    ----------
    recs : Recommendations
        Ranked lists.
    test : Dataset
        Held-out interactions, same index space as ``recs``.
    k : int
        Cut-off.

    Returns
    -------
    np.ndarray
        float64 per user of ``recs`` (same order), ``nan`` where ``T_u`` is empty.
    """


def precision(recs: Recommendations, test, k: int) -> np.ndarray:
    return precision_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


def recall(recs: Recommendations, test, k: int) -> np.ndarray:
    return recall_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


def hit_rate(recs: Recommendations, test, k: int) -> np.ndarray:
    return hit_rate_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


def ndcg(recs: Recommendations, test, k: int) -> np.ndarray:
    return ndcg_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


def mrr(recs: Recommendations, test, k: int) -> np.ndarray:
    return mrr_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


def map_at_k(recs: Recommendations, test, k: int) -> np.ndarray:
    return map_from_hits(hit_matrix(recs, test, k), relevant_counts(recs, test))


precision.__doc__ = "Precision@k = |L_u[:k] ∩ T_u| / k (padding counts as a miss)." + _PARAMS
recall.__doc__ = "Recall@k = |L_u[:k] ∩ T_u| / |T_u|." + _PARAMS
hit_rate.__doc__ = "HitRate@k = 1 if L_u[:k] ∩ T_u is not empty, else 0." + _PARAMS
ndcg.__doc__ = (
    "nDCG@k = Σ_{i≤k} 1[l_i ∈ T_u] / log2(i+1), divided by the ideal Σ_{i≤min(k,|T_u|)} 1 / log2(i+1)."
    + _PARAMS
)
mrr.__doc__ = "MRR@k = 1 / rank of the first hit among the first k positions (0 if none)." + _PARAMS
map_at_k.__doc__ = "MAP@k = Σ_{i≤k} Precision@i · 1[l_i ∈ T_u] / min(k, |T_u|)." + _PARAMS
