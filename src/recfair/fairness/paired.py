"""Paired tests for per-user differences ``Δ_u = m_B(u) − m_A(u)`` (METRICS.md, "who gains").

* :func:`sign_flip_test` — two-sided sign-flip permutation test of "mean Δ = 0"
  with statistic ``|Σ_u s_u Δ_u|``, ``s_u = ±1`` with probability ½ each.  All
  signs of a chunk of permutations are one ``(b, n)`` ±1 matrix; the permuted
  sums are one matrix product.  When ``2**n ≤ n_permutations`` every sign
  vector is enumerated and the p-value is exact (``#{|S| ≥ |S_obs|} / 2**n``);
  otherwise ``p = (1 + #{|S| ≥ |S_obs|}) / (1 + n_permutations)``.
* :func:`sign_flip_exact` — that exact p-value by full enumeration (small ``n``).
* :func:`wilcoxon_test` — Wilcoxon signed-rank p-value (scipy), zero
  differences dropped (``zero_method="wilcox"``); ``1.0`` when every
  difference is zero (nothing moved), ``nan`` for no users.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from recfair.errors import RecfairError
from recfair.fairness.stats import CHUNK_ENTRIES, TIE_RTOL

__all__ = ["MAX_EXACT_USERS", "sign_flip_exact", "sign_flip_test", "wilcoxon_test"]

#: Largest ``n`` that :func:`sign_flip_exact` enumerates (2**20 sign vectors).
MAX_EXACT_USERS = 20
TOO_MANY_FOR_EXACT = "Exact sign-flip enumeration needs n ≤ {max} users; got n = {n}. Use sign_flip_test."


def _as_matrix(deltas: np.ndarray) -> np.ndarray:
    d = np.asarray(deltas, dtype=np.float64)
    return d[:, None] if d.ndim == 1 else d


def _threshold(observed: np.ndarray) -> np.ndarray:
    """Observed |sum| less a relative tolerance, so float ties count as 'as extreme'."""
    return observed - TIE_RTOL * np.maximum(observed, 1.0)


def sign_flip_exact(deltas: np.ndarray) -> np.ndarray:
    """Exact two-sided sign-flip p-value by enumerating all ``2**n`` sign vectors.

    Parameters
    ----------
    deltas : (n,) or (n, m) array
        Paired differences, no ``nan``; ``n ≤`` :data:`MAX_EXACT_USERS`.

    Returns
    -------
    np.ndarray
        ``(m,)`` p-values; ``nan`` when ``n == 0``.

    Examples
    --------
    >>> float(sign_flip_exact(np.array([1.0, 2.0, 3.0]))[0])  # only ±(+,+,+) reach |6|
    0.25
    """
    d = _as_matrix(deltas)
    n = d.shape[0]
    if n > MAX_EXACT_USERS:
        raise RecfairError(TOO_MANY_FOR_EXACT.format(max=MAX_EXACT_USERS, n=n))
    if n == 0:
        return np.full(d.shape[1], np.nan)
    bits = (np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)[None, :]) & 1
    signs = (1 - 2 * bits).astype(np.float64)
    sums = np.abs(signs @ d)
    observed = np.abs(d.sum(axis=0))
    return (sums >= _threshold(observed)[None, :]).sum(axis=0) / float(2**n)


def sign_flip_test(deltas: np.ndarray, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Two-sided sign-flip permutation p-value of ``mean Δ = 0`` for each column.

    Exact (full enumeration) when ``2**n ≤ n_permutations``; otherwise Monte
    Carlo with ``p = (1 + #{|S| ≥ |S_obs|}) / (1 + n_permutations)``, so a
    p-value is never 0.  Memory is bounded by working in chunks.

    Parameters
    ----------
    deltas : (n,) or (n, m) array
        Paired differences, no ``nan``.
    n_permutations : int
        Random sign vectors to draw.
    rng : numpy Generator
        Source of the signs (same seed ⇒ same p-values).

    Returns
    -------
    np.ndarray
        ``(m,)`` float64 p-values (``nan`` when ``n == 0``).
    """
    d = _as_matrix(deltas)
    n = d.shape[0]
    if n == 0:
        return np.full(d.shape[1], np.nan)
    if n <= MAX_EXACT_USERS and 2**n <= n_permutations:
        return sign_flip_exact(d)
    threshold = _threshold(np.abs(d.sum(axis=0)))
    exceed = np.zeros(d.shape[1], dtype=np.int64)
    step = max(1, CHUNK_ENTRIES // n)
    for start in range(0, n_permutations, step):
        b = min(step, n_permutations - start)
        signs = rng.integers(0, 2, size=(b, n), dtype=np.int8) * np.int8(2) - np.int8(1)
        sums = np.abs(signs.astype(np.float64) @ d)
        exceed += (sums >= threshold[None, :]).sum(axis=0)
    return (1.0 + exceed) / (1.0 + n_permutations)


def wilcoxon_test(deltas: np.ndarray) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-value of each column (scipy, zeros dropped).

    Returns ``1.0`` for a column whose differences are all zero and ``nan``
    for an empty one; scipy picks the exact distribution for small samples
    without ties and the normal approximation otherwise.

    Returns
    -------
    np.ndarray
        ``(m,)`` float64 p-values.
    """
    d = _as_matrix(deltas)
    out = np.full(d.shape[1], np.nan)
    for j in range(d.shape[1]):
        col = d[:, j]
        if col.size == 0:
            continue
        if not np.any(col != 0):
            out[j] = 1.0
            continue
        out[j] = float(sps.wilcoxon(col, zero_method="wilcox", alternative="two-sided").pvalue)
    return out
