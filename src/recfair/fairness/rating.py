"""Rating unfairness (Yao & Huang 2017) for a binary split of users, g vs ¬g.

Over the items ``j`` that have test ratings from *both* groups (``n`` of them),
with ``E_g[y]_j`` the mean prediction and ``E_g[r]_j`` the mean true rating of
group ``g`` on ``j`` (METRICS.md):

* value      = mean_j |(E_g[y]_j − E_g[r]_j) − (E_¬g[y]_j − E_¬g[r]_j)|
* absolute   = mean_j | |E_g[y]_j − E_g[r]_j| − |E_¬g[y]_j − E_¬g[r]_j| |
* under      = mean_j | max(0, E_g[r]_j − E_g[y]_j) − max(0, E_¬g[r]_j − E_¬g[y]_j) |
* over       = mean_j | max(0, E_g[y]_j − E_g[r]_j) − max(0, E_¬g[y]_j − E_¬g[r]_j) |
* non_parity = |mean prediction of g − mean prediction of ¬g| over all given pairs.

:func:`rating_unfairness` works on numpy arrays of test pairs;
:func:`rating_unfairness_torch` computes the same quantities on a torch batch,
differentiably, so an in-processing penalty can add them to a loss.  Where no
item is rated by both groups, the numpy version reports ``nan`` (and
``n_items = 0``) while the torch version returns 0 attached to the graph — a
penalty must always be a number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recfair.errors import RecfairError

if TYPE_CHECKING:  # torch is optional; imported inside rating_unfairness_torch
    import torch

__all__ = ["RATING_UNFAIRNESS", "rating_unfairness", "rating_unfairness_torch"]

#: Names of the five measures, in the order reported.
RATING_UNFAIRNESS = ("value", "absolute", "under", "over", "non_parity")

UNKNOWN_KIND = "Unknown rating-unfairness measure '{kind}'. Choose one of: " + ", ".join(RATING_UNFAIRNESS) + "."
BAD_LENGTHS = "users, items, ratings and predictions must have the same length; got {lengths}."
BAD_GROUP = "group must be a boolean array with one entry per user index (at least {n}); got shape {shape}."


def _pair_terms(dy_g, dy_n):
    """The four per-item terms from per-item (mean pred − mean rating) of g and ¬g (numpy or torch)."""
    relu = (lambda x: x.clamp(min=0)) if hasattr(dy_g, "clamp") else (lambda x: np.maximum(x, 0.0))
    return {
        "value": abs(dy_g - dy_n),
        "absolute": abs(abs(dy_g) - abs(dy_n)),
        "under": abs(relu(-dy_g) - relu(-dy_n)),
        "over": abs(relu(dy_g) - relu(dy_n)),
    }


def rating_unfairness(users, items, ratings, predictions, group) -> dict[str, float]:
    """The five Yao & Huang measures on test pairs.

    Parameters
    ----------
    users, items : (n,) int arrays
        Test pairs (user and item indices).
    ratings, predictions : (n,) float arrays
        True and predicted ratings of those pairs.
    group : bool array indexed by user index
        True for users of g (e.g. ``users_table['gender'] == 'F'``).

    Returns
    -------
    dict
        ``value, absolute, under, over, non_parity`` (float) and ``n_items``
        (items rated by both groups; the first four are ``nan`` when 0).

    Examples
    --------
    >>> r = rating_unfairness([0, 1], [0, 0], [4.0, 2.0], [3.0, 3.0], np.array([True, False]))
    >>> r["value"], r["under"], r["over"]
    (2.0, 1.0, 1.0)
    """
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    r = np.asarray(ratings, dtype=np.float64)
    y = np.asarray(predictions, dtype=np.float64)
    if not (u.shape == i.shape == r.shape == y.shape) or u.ndim != 1:
        raise RecfairError(BAD_LENGTHS.format(lengths=[a.shape for a in (u, i, r, y)]))
    grp = np.asarray(group)
    n_needed = int(u.max()) + 1 if u.size else 0
    if grp.dtype != bool or grp.ndim != 1 or grp.size < n_needed:
        raise RecfairError(BAD_GROUP.format(n=n_needed, shape=grp.shape))
    g = grp[u]
    n_items = int(i.max()) + 1 if i.size else 0
    out: dict[str, float] = {}
    cnt = [np.bincount(i[m], minlength=n_items) for m in (g, ~g)]
    both = (cnt[0] > 0) & (cnt[1] > 0)
    if both.any():
        d = []
        for m, c in zip((g, ~g), cnt):
            with np.errstate(invalid="ignore", divide="ignore"):
                d.append((np.bincount(i[m], weights=y[m] - r[m], minlength=n_items) / c)[both])
        out.update({k: float(v.mean()) for k, v in _pair_terms(d[0], d[1]).items()})
    else:
        out.update({k: float("nan") for k in RATING_UNFAIRNESS[:4]})
    out["non_parity"] = float(abs(y[g].mean() - y[~g].mean())) if g.any() and (~g).any() else float("nan")
    out["n_items"] = int(both.sum())
    return out


def rating_unfairness_torch(kind: str, predictions, ratings, items, group) -> "torch.Tensor":
    """One Yao & Huang measure on a torch batch, differentiable w.r.t. ``predictions``.

    Parameters
    ----------
    kind : str
        One of :data:`RATING_UNFAIRNESS`.
    predictions : (b,) float tensor
        Predicted ratings (requires grad in training).
    ratings : (b,) float tensor
        True ratings (ignored by ``non_parity``).
    items : (b,) long tensor
        Item index of each pair.
    group : (b,) bool tensor
        Whether the pair's user is in g.

    Returns
    -------
    torch.Tensor
        Scalar; ``0`` (still attached to the graph) when the batch has no item
        rated by both groups, or, for ``non_parity``, no pair of one group.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([3.0, 3.0], requires_grad=True)
    >>> rating_unfairness_torch("value", y, torch.tensor([4.0, 2.0]), torch.tensor([0, 0]),
    ...                         torch.tensor([True, False])).item()
    2.0
    """
    import torch

    if kind not in RATING_UNFAIRNESS:
        raise RecfairError(UNKNOWN_KIND.format(kind=kind))
    y = predictions.reshape(-1)
    g = group.reshape(-1).to(torch.bool)
    zero = y.sum() * 0.0
    if kind == "non_parity":
        if not bool(g.any()) or bool(g.all()):
            return zero
        return (y[g].mean() - y[~g].mean()).abs()
    r = ratings.reshape(-1).to(y.dtype)
    it = items.reshape(-1).to(torch.long)
    uniq, inv = torch.unique(it, return_inverse=True)
    n = uniq.numel()
    diffs, counts = [], []
    for m in (g, ~g):
        mf = m.to(y.dtype)
        counts.append(torch.zeros(n, dtype=y.dtype, device=y.device).index_add(0, inv, mf))
        diffs.append(torch.zeros(n, dtype=y.dtype, device=y.device).index_add(0, inv, (y - r) * mf))
    both = (counts[0] > 0) & (counts[1] > 0)
    if not bool(both.any()):
        return zero
    d_g = diffs[0][both] / counts[0][both]
    d_n = diffs[1][both] / counts[1][both]
    return _pair_terms(d_g, d_n)[kind].mean()
