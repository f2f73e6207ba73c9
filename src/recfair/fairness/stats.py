"""Vectorised resampling statistics for group comparisons.

* :func:`bootstrap_means` — percentile bootstrap of a group's mean, for many
  metrics at once: resample counts ``W`` (``n_resamples × n``, one multinomial
  draw per row, built with one ``bincount``) times the value matrix ``V``
  (``n × n_metrics``) gives every resampled mean in one matrix product.
* :func:`permutation_gap_test` — permutation test of "all groups have the same
  mean" with statistic ``max_g mean_g − min_g mean_g``.  Group sums of every
  permutation come from one sparse ``(n_perm · G) × n`` indicator matrix times
  ``V``.  ``p = (1 + #{perm stat ≥ observed}) / (1 + n_permutations)``.

Both work in chunks so memory stays bounded (about 4 million index entries at a
time) whatever the number of users.  Random streams are derived from a seed and
string keys (:func:`rng_for`), so a group's result does not depend on which
other groups or metrics are audited with it.
"""

from __future__ import annotations

import zlib

import numpy as np
import scipy.sparse as sp

__all__ = ["bootstrap_means", "group_means", "percentile_ci", "permutation_gap_test", "rng_for"]

#: Index entries generated per chunk (bounds memory: ~32 MB of int64).
CHUNK_ENTRIES = 4_000_000
#: Relative tolerance when comparing permuted statistics with the observed one,
#: so that a permutation equal to the observed labelling (up to float summation
#: order) counts as "at least as extreme".
TIE_RTOL = 1e-9


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and string keys (stable across runs and platforms)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def group_means(values: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group means ``(G, m)`` and sizes ``(G,)``; rows with ``codes < 0`` are ignored.

    Empty groups get ``nan`` means.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    keep = codes >= 0
    onehot = sp.csr_matrix(
        (np.ones(int(keep.sum())), (codes[keep], np.flatnonzero(keep))), shape=(n_groups, v.shape[0])
    )
    sums = np.asarray(onehot @ v)
    n = np.bincount(codes[keep], minlength=n_groups).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n[:, None]
    return means, n


def bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples (with replacement) of the rows of ``values``.

    Parameters
    ----------
    values : (n,) or (n, m) array
        One row per user; columns are metrics (no ``nan``).
    n_resamples : int
    rng : numpy Generator

    Returns
    -------
    np.ndarray
        ``(n_resamples, m)`` float64.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    n = v.shape[0]
    out = np.empty((n_resamples, v.shape[1]), dtype=np.float64)
    if n == 0:
        out.fill(np.nan)
        return out
    step = max(1, CHUNK_ENTRIES // n)
    for start in range(0, n_resamples, step):
        b = min(step, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
        out[start : start + b] = (counts @ v) / n
    return out


def percentile_ci(samples: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``samples`` (``(B, …)``) along axis 0 (linear interpolation)."""
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(samples, [a, 1.0 - a], axis=0)
    return lo, hi


def _gap(means: np.ndarray) -> np.ndarray:
    return means.max(axis=-2) - means.min(axis=-2)


def permutation_gap_test(
    values: np.ndarray, codes: np.ndarray, n_groups: int, n_permutations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation test of equal group means with statistic ``max_g mean_g − min_g mean_g``.

    Group labels are shuffled among the rows (group sizes stay fixed), which
    is exact under exchangeability of users between groups.

    Parameters
    ----------
    values : (n,) or (n, m) array
        No ``nan``; every row belongs to a group (``0 <= codes < n_groups``).
    codes : (n,) int array
    n_groups : int
        Every group must be non-empty.
    n_permutations : int
    rng : numpy Generator

    Returns
    -------
    (observed, p_value)
        Both ``(m,)``.  ``p = (1 + #{perm ≥ observed}) / (1 + n_permutations)``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    codes = np.asarray(codes, dtype=np.int64)
    n = v.shape[0]
    means, sizes = group_means(v, codes, n_groups)
    observed = _gap(means)
    exceed = np.zeros(v.shape[1], dtype=np.int64)
    threshold = observed - TIE_RTOL * np.maximum(np.abs(observed), 1.0)
    step = max(1, CHUNK_ENTRIES // max(n, 1))
    inv_sizes = 1.0 / sizes[None, :, None]
    small = codes.astype(np.int32)  # int32 halves the memory traffic of the shuffles below
    data = np.ones(step * n)
    for start in range(0, n_permutations, step):
        b = min(step, n_permutations - start)
        perm = rng.permuted(np.broadcast_to(small, (b, n)), axis=1)
        perm += (np.arange(b, dtype=np.int32) * n_groups)[:, None]
        # CSC: column i (user i) holds one entry per permutation, rows ascending.
        ind = sp.csc_matrix(
            (data[: b * n], np.ascontiguousarray(perm.T).ravel(), np.arange(n + 1, dtype=np.int64) * b),
            shape=(b * n_groups, n),
        )
        sums = np.asarray(ind @ v).reshape(b, n_groups, v.shape[1])
        stat = _gap(sums * inv_sizes)
        exceed += (stat >= threshold[None, :]).sum(axis=0)
    return observed, (1.0 + exceed) / (1.0 + n_permutations)
