"""Beyond-accuracy metrics (METRICS.md, "Beyond accuracy").

Global values (one number for a set of lists): :func:`catalog_coverage`,
:func:`item_exposure` (a vector over all items) and :func:`exposure_gini`.
Per-user values (float64 aligned with ``recs.users``, ``nan`` where undefined):
:func:`arp`, :func:`aplt`, :func:`aclt`, :func:`novelty`,
:func:`intra_list_diversity`, :func:`miscalibration`, :func:`popularity_calibration`.
Item groupings used by these and by the fairness audit: :func:`short_head` and
:func:`popularity_tiers`.

Choices METRICS.md leaves open, fixed here (and in docs/metrics.md):

* Popularity ``pop_j`` = number of distinct training users of ``j``; "training
  interactions" = distinct (user, item) training pairs, so shares are ``pop_j / Σ pop``.
* Tiers by cumulative share: sort items by ``pop`` descending; the head is the
  shortest prefix whose share reaches the target, and every item tied with the
  last head item is head too (tiers depend on popularity only, never on item
  ids).  Items with ``pop = 0`` are always tail.
* Novelty uses ``|U|`` = users with at least one training interaction and
  clips ``pop_j`` to at least 1 (an item nobody trained on gets the maximum
  finite novelty ``log2 |U|``).
* Lists are the first ``k`` positions with padding and repeats dropped
  (:func:`recfair.metrics.ranking.lists_at_k`).  Means over a list use its real
  entries; APLT still divides by ``k``.  An empty list gives ``nan`` for ARP,
  novelty, ILD, miscalibration and popularity calibration, and 0 for APLT / ACLT.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recfair.errors import RecfairError, check_fraction
from recfair.metrics.ranking import check_lists, lists_at_k, position_weights
from recfair.recommendations import PAD, Recommendations

__all__ = [
    "TIERS",
    "aclt",
    "aplt",
    "arp",
    "catalog_coverage",
    "exposure_gini",
    "genre_matrix",
    "gini",
    "intra_list_diversity",
    "item_exposure",
    "js_divergence",
    "list_matrix",
    "miscalibration",
    "novelty",
    "popularity_calibration",
    "popularity_tiers",
    "short_head",
]

#: Tier labels of :func:`popularity_tiers`, most popular first.
TIERS = ("head", "mid", "tail")

NO_GENRES = (
    "{metric} needs item genres: the dataset's item table has no 'genres' column. "
    "Pass item_vectors=... (for diversity) or use a dataset with genres."
)
EMPTY_TRAIN = "{metric} needs training interactions to measure popularity, but the training set is empty."
BAD_VECTORS = "item_vectors must have shape (n_items, d) = ({n}, d); got {shape}."


# ----------------------------------------------------------------- building blocks
def list_matrix(recs: Recommendations, n_items: int, k: int) -> sp.csr_matrix:
    """Binary ``(n, n_items)`` CSR matrix with a 1 where an item is in the user's top-k list."""
    check_lists(recs, np.iinfo(np.int32).max, n_items)
    return list_matrix_from_lists(lists_at_k(recs, k), n_items)


def list_matrix_from_lists(items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """:func:`list_matrix` for lists already cut by :func:`lists_at_k` (no repeats)."""
    valid = items != PAD
    indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
    # built directly (row-major order of the lists); rows hold no repeats, so no summing needed
    return sp.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.float64), items[valid], indptr), shape=(items.shape[0], n_items)
    )


def _row_mean(lm: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    counts = np.diff(lm.indptr)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (lm @ values) / counts
    out[counts == 0] = np.nan
    return out


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    s = m.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, m / s, np.nan)


def _popularity(train, metric: str) -> np.ndarray:
    pop = np.asarray(train.item_popularity, dtype=np.float64)
    if pop.sum() == 0:
        raise RecfairError(EMPTY_TRAIN.format(metric=metric))
    return pop


def _head_mask(pop: np.ndarray, share: float) -> np.ndarray:
    """Items in the shortest descending-popularity prefix holding ``share`` of Σ pop, ties included."""
    if share <= 0:
        return np.zeros(pop.size, dtype=bool)
    order = np.argsort(-pop, kind="stable")
    cum = np.cumsum(pop[order]) / pop.sum()
    # first position reaching the share; tolerance guards 0.8 vs 0.7999999999 rounding
    last = int(np.searchsorted(cum, share - 1e-12, side="left"))
    last = min(last, pop.size - 1)
    threshold = pop[order[last]]
    return (pop >= threshold) & (pop > 0)


def short_head(train, share: float = 0.8) -> np.ndarray:
    """Boolean mask over items: the short head ``H`` of METRICS.md.

    ``H`` = the most popular items that together hold ``share`` (default 80%)
    of the training interactions: sort by ``pop_j`` descending, take the
    shortest prefix whose cumulative share is ≥ ``share``, and add every item
    whose popularity equals that of the last one taken (ties never split).
    The long tail is ``~short_head(train)``.
    """
    share = check_fraction(share, "share", "short_head", closed=True)
    return _head_mask(_popularity(train, "short_head"), share)


def popularity_tiers(train, head_share: float = 0.2, tail_share: float = 0.2) -> np.ndarray:
    """Label every item ``'head'``, ``'mid'`` or ``'tail'`` by training popularity.

    Following Abdollahpouri et al. (2021): head = the most popular items that
    together hold ``head_share`` of training interactions (20%), tail = the
    least popular items that together hold ``tail_share`` (20%), mid = the rest.
    Precisely: head = :func:`short_head` with ``share=head_share``;
    head ∪ mid = :func:`short_head` with ``share=1 - tail_share``; tail = the
    remaining items (all items with ``pop = 0`` among them).  Ties at a boundary
    go to the more popular tier, so the tail holds at most ``tail_share``.
    ``popularity_tiers(train, 0.8, 0.2)`` gives METRICS.md's two tiers
    (short head / long tail, mid empty).

    Returns
    -------
    np.ndarray
        ``(n_items,)`` array of str.
    """
    head_share = check_fraction(head_share, "head_share", "popularity_tiers", closed=True)
    tail_share = check_fraction(tail_share, "tail_share", "popularity_tiers", closed=True)
    if head_share + tail_share > 1:
        raise RecfairError(
            f"head_share + tail_share must be at most 1, got {head_share} + {tail_share}"
        )
    pop = _popularity(train, "popularity_tiers")
    head = _head_mask(pop, head_share)
    upper = _head_mask(pop, 1.0 - tail_share) if tail_share > 0 else pop >= 0
    out = np.full(pop.size, "tail", dtype="<U4")
    out[upper] = "mid"
    out[head] = "head"
    return out


def genre_matrix(dataset) -> tuple[np.ndarray, list[str]]:
    """Multi-hot ``(n_items, n_genres)`` float64 matrix from ``dataset.items['genres']``.

    Genre names are sorted; items with no genres (or a missing value) get a zero row.
    """
    if "genres" not in dataset.items.columns:
        raise RecfairError(NO_GENRES.format(metric="genre_matrix"))
    col = dataset.items["genres"].to_numpy()
    per_item = [tuple(g) if isinstance(g, (tuple, list, np.ndarray)) else () for g in col]
    names = sorted({g for gs in per_item for g in gs})
    pos = {g: i for i, g in enumerate(names)}
    rows = np.repeat(np.arange(len(per_item)), [len(gs) for gs in per_item])
    cols = np.fromiter((pos[g] for gs in per_item for g in gs), dtype=np.int64, count=rows.size)
    m = np.zeros((len(per_item), len(names)), dtype=np.float64)
    m[rows, cols] = 1.0
    return m, names


# ---------------------------------------------------------------- global metrics
def catalog_coverage(recs: Recommendations, n_items: int, k: int) -> float:
    """``|∪_u L_u| / |I|`` over the first ``k`` positions of every list."""
    check_lists(recs, np.iinfo(np.int32).max, n_items)
    return coverage_from_lists(lists_at_k(recs, k), n_items)


def coverage_from_lists(items: np.ndarray, n_items: int) -> float:
    """:func:`catalog_coverage` of an ``(n, k)`` item matrix already cut by :func:`lists_at_k` (PAD ignored)."""
    return float(np.count_nonzero(np.bincount(items[items != PAD], minlength=n_items)) / n_items)


def item_exposure(recs: Recommendations, n_items: int, k: int) -> np.ndarray:
    """``E_j = Σ_u Σ_{i≤k} 1[l_i = j] / log2(i + 1)`` for every item (float64, length ``n_items``)."""
    check_lists(recs, np.iinfo(np.int32).max, n_items)
    return exposure_from_lists(lists_at_k(recs, k), n_items)


def exposure_from_lists(items: np.ndarray, n_items: int) -> np.ndarray:
    """:func:`item_exposure` of an ``(n, k)`` item matrix already cut by :func:`lists_at_k`.

    Column ``i`` (0-based) carries the weight ``1 / log2(i + 2)``; PAD entries add nothing.
    Returns float64 of length ``n_items``.
    """
    w = np.broadcast_to(position_weights(items.shape[1]), items.shape)
    valid = items != PAD
    return np.bincount(items[valid], weights=w[valid], minlength=n_items).astype(np.float64)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: ``Σ_i (2i − n − 1) x_(i) / (n Σ x)``, ``x`` ascending.

    0 when all values are equal, ``(n − 1) / n`` when one value holds everything,
    ``nan`` when all are zero.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n, total = x.size, x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def exposure_gini(recs: Recommendations, n_items: int, k: int) -> float:
    """Gini of :func:`item_exposure` over all ``n_items`` items (unexposed items count as 0)."""
    return gini(item_exposure(recs, n_items, k))


# -------------------------------------------------------------- per-user metrics
# Each public function builds the list matrix and calls a ``*_from_lists`` twin;
# evaluate() builds the matrix once and calls the twins directly.
def arp_from_lists(lm: sp.csr_matrix, train) -> np.ndarray:
    """Per-row :func:`arp`: mean training popularity of the listed items.

    ``lm`` is the ``(n, n_items)`` 0/1 list matrix of :func:`list_matrix`; ``train`` the training :class:`~recfair.data.Dataset`.
    Empty rows give ``nan``.
    """
    return _row_mean(lm, _popularity(train, "arp"))


def tail_counts_from_lists(lm: sp.csr_matrix, train, share: float = 0.8) -> np.ndarray:
    """Per-row number of listed items outside :func:`short_head` ``(train, share)`` (:func:`aclt`; divide by k for :func:`aplt`)."""
    return lm @ (~short_head(train, share)).astype(np.float64)


def novelty_from_lists(lm: sp.csr_matrix, train) -> np.ndarray:
    """Per-row :func:`novelty` of list matrix ``lm`` against the training set ``train`` (empty rows: ``nan``)."""
    pop = _popularity(train, "novelty")
    n_users = float((train.user_counts > 0).sum())
    return _row_mean(lm, -np.log2(np.maximum(pop, 1.0) / n_users))


def ild_from_lists(lm: sp.csr_matrix, item_vectors: np.ndarray) -> np.ndarray:
    """Per-row :func:`intra_list_diversity` of list matrix ``lm`` with ``(n_items, d)`` ``item_vectors``.

    Raises :class:`RecfairError` (:data:`BAD_VECTORS`) when ``item_vectors`` is
    not 2-D with one row per item.
    """
    x = np.asarray(item_vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != lm.shape[1]:
        raise RecfairError(BAD_VECTORS.format(n=lm.shape[1], shape=x.shape))
    norms = np.linalg.norm(x, axis=1)
    nonzero = norms > 0
    unit = np.divide(x, norms[:, None], out=np.zeros_like(x), where=nonzero[:, None])
    m = lm @ nonzero.astype(np.float64)
    s = np.asarray(lm @ unit)
    sq = np.einsum("ij,ij->i", s, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cos = (sq - m) / (m * (m - 1))
    out = np.maximum(1.0 - mean_cos, 0.0)  # rounding can push identical lists a hair below 0
    out[m < 2] = np.nan
    return out


def miscalibration_from_lists(lm: sp.csr_matrix, users: np.ndarray, train, alpha: float = 0.01) -> np.ndarray:
    """Per-row :func:`miscalibration` of list matrix ``lm``; ``users[i]`` is the user of row ``i``.

    ``train`` must have a ``genres`` item column (else :data:`NO_GENRES`).
    """
    alpha = check_fraction(alpha, "alpha", "miscalibration", closed=True)
    if "genres" not in train.items.columns:
        raise RecfairError(NO_GENRES.format(metric="miscalibration"))
    g, _ = genre_matrix(train)
    g = np.nan_to_num(_normalise_rows(g), nan=0.0)  # p(g|i) = 1/|genres(i)|; no genres → no mass
    p = _normalise_rows(np.asarray(train.matrix[users] @ g))
    q = _normalise_rows(np.asarray(lm @ g))
    mix = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / mix), 0.0)
    out = terms.sum(axis=1)
    out[np.isnan(p).any(axis=1) | np.isnan(q).any(axis=1)] = np.nan
    return out


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen–Shannon divergence, log base 2 (so in [0, 1]); ``nan`` rows stay ``nan``."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=1)
    out = 0.5 * kl_p + 0.5 * kl_q
    out[np.isnan(p).any(axis=1) | np.isnan(q).any(axis=1)] = np.nan
    return out


def popcal_from_lists(
    lm: sp.csr_matrix, users: np.ndarray, train, head_share: float = 0.2, tail_share: float = 0.2
) -> np.ndarray:
    """Per-row :func:`popularity_calibration` of list matrix ``lm``; ``users[i]`` is the user of row ``i``.

    Tiers are :func:`popularity_tiers` ``(train, head_share, tail_share)``.
    """
    tiers = popularity_tiers(train, head_share, tail_share)
    onehot = (tiers[:, None] == np.asarray(TIERS)[None, :]).astype(np.float64)
    p = _normalise_rows(np.asarray(train.matrix[users] @ onehot))
    q = _normalise_rows(np.asarray(lm @ onehot))
    return js_divergence(p, q)


def _lm(recs: Recommendations, train, k: int) -> sp.csr_matrix:
    check_lists(recs, train.n_users, train.n_items)
    return list_matrix(recs, train.n_items, k)


def arp(recs: Recommendations, train, k: int) -> np.ndarray:
    """Average recommendation popularity: ``mean_{j ∈ L_u} pop_j`` per user."""
    return arp_from_lists(_lm(recs, train, k), train)


def aplt(recs: Recommendations, train, k: int, *, share: float = 0.8) -> np.ndarray:
    """Average percentage of long tail: ``|L_u ∩ tail| / k`` per user (tail = items outside the short head)."""
    return tail_counts_from_lists(_lm(recs, train, k), train, share) / k


def aclt(recs: Recommendations, train, k: int, *, share: float = 0.8) -> np.ndarray:
    """Average coverage of long tail: ``|L_u ∩ tail|`` per user."""
    return tail_counts_from_lists(_lm(recs, train, k), train, share)


def novelty(recs: Recommendations, train, k: int) -> np.ndarray:
    """``mean_{j ∈ L_u} −log2(max(pop_j, 1) / |U|)``, ``|U|`` = users with training interactions."""
    return novelty_from_lists(_lm(recs, train, k), train)


def intra_list_diversity(
    recs: Recommendations, dataset, k: int, *, item_vectors: np.ndarray | None = None
) -> np.ndarray:
    """Mean pairwise ``1 − cos(e_a, e_b)`` over the items of each list.

    ``item_vectors`` (``(n_items, d)``, e.g. LM embeddings) default to genre
    multi-hot vectors from ``dataset``.  Items whose vector is all zero (no
    genre) are left out of the pairs; fewer than two remaining items ⇒ ``nan``.
    Computed without forming pairs: with unit vectors ``x̂``,
    ``Σ_{a<b} cos = (‖Σ x̂‖² − m) / 2`` for ``m`` items.
    """
    if item_vectors is None:
        item_vectors, _ = genre_matrix(dataset)
    return ild_from_lists(_lm(recs, dataset, k), item_vectors)


def miscalibration(recs: Recommendations, train, k: int, *, alpha: float = 0.01) -> np.ndarray:
    """Steck (2018): ``KL(p ‖ (1 − α) q + α p)`` per user, natural log.

    ``p(g|u)`` is the genre distribution of the user's training items, ``q(g|u)``
    that of the list (unweighted by rank); every item spreads mass
    ``1/|genres(i)|`` uniformly over its genres (items without genres carry
    none).  ``nan`` when either side has no genre mass.
    """
    return miscalibration_from_lists(_lm(recs, train, k), recs.users, train, alpha)


def popularity_calibration(
    recs: Recommendations, train, k: int, *, head_share: float = 0.2, tail_share: float = 0.2
) -> np.ndarray:
    """Abdollahpouri et al. (2021): Jensen–Shannon divergence (log base 2, in [0, 1])
    between the head/mid/tail shares of the user's training items and of the list.

    Tiers come from :func:`popularity_tiers`; ``nan`` when the user has no
    training items or an empty list.
    """
    return popcal_from_lists(_lm(recs, train, k), recs.users, train, head_share, tail_share)
