"""Synthetic interaction data with planted structure and a controllable group gap.

The generator (vectorised numpy, deterministic per ``seed``):

1. **Groups.**  ``round(minority_share·n_users)`` users, chosen at random, are
   ``group="minority"`` (``gender="F"``), the rest ``"majority"`` (``"M"``);
   ``age`` is uniform on 18..65.  Items are split evenly into
   ``n_item_groups`` groups ``"g0"``, ``"g1"``, … .
2. **Latent preferences.**  Each item group has a centroid in
   ``R^embedding_size``; item factors are the centroid plus noise, user factors
   are a random item group's centroid plus noise.  Affinity
   ``a(u, j) = <p_u, q_j> / sqrt(embedding_size)``.
3. **Popularity skew.**  Item ``j``'s draw probability is ≈ ``∝ rank_j^(-zipf)``
   (ranks a random permutation; sampled by the inverse CDF of the continuous
   power law on ``[1, n_items + 1)``, so the top ranks are slightly flatter
   than a discrete Zipf law).
4. **Activity.**  Each user draws a log-normal activity, multiplied by
   ``minority_activity`` for minority users; ``n_interactions`` is shared out
   in proportion (largest remainder, at least one each, at most ``n_items``).
5. **Interactions.**  A preference-driven interaction draws
   ``N_CANDIDATES`` items by popularity and keeps the one with the largest
   ``BETA·a(u, j) + Gumbel noise``.  For minority users a ``minority_noise``
   fraction of interactions is instead a uniformly random item (no
   preference signal).  Repeated (user, item) pairs are redrawn (redraw round
   ``r`` tempers popularity and affinity by ``0.5**r``), so the result has no
   duplicates and exactly ``n_interactions`` rows.
6. **Ratings** ``clip(rint(3.5 + 1.1·z + N(0, 0.6²)), 1, 5)`` where ``z`` is the
   standardised affinity (random interactions therefore rate lower on
   average).  **Timestamps** (Unix seconds from 2001-09-09): each user starts
   at a random time in the first year and stays active for 10–50 % of two
   years, interacting at exponential gaps in a random item order; rows are
   grouped by user, in time order within each user.

Minority users thus have fewer and noisier interactions, which lowers
recommendation quality for them; ``minority_activity=1`` and
``minority_noise=0`` make both groups statistically identical (no gap).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from recfair.data.dataset import Dataset
from recfair.errors import RecfairError, check_fraction, check_nonneg_float, check_param, check_positive_int

N_CANDIDATES = 8
BETA = 3.0
_CHUNK = 1 << 16
_MAX_ROUNDS = 12
_T0 = 1_000_000_000
_SPAN = 2 * 365 * 86400

TOO_MANY_INTERACTIONS = (
    "n_interactions={n} cannot be placed without duplicates: expected at most n_users·n_items = {cap}"
)
TOO_FEW_INTERACTIONS = "n_interactions={n} is below n_users={users}: expected at least one interaction per user"
#: :func:`planted_affinity` given a keyword :func:`make_synthetic` does not take.
UNKNOWN_SYNTHETIC = "planted_affinity: unknown argument(s) {unknown}; make_synthetic takes: {valid}"


def _allocate(total: int, weights: np.ndarray, cap: int) -> np.ndarray:
    """Integer shares of ``total`` ∝ ``weights`` (≥ 1 each, ≤ cap), by largest remainder."""
    n = np.ones(len(weights), dtype=np.int64)
    remaining = total - len(weights)
    while remaining > 0:
        free = n < cap
        w = np.where(free, weights, 0.0)
        share = remaining * w / w.sum()
        add = np.floor(share).astype(np.int64)
        left = remaining - int(add.sum())
        if left > 0:  # largest fractional parts get one more (stable: ties by index)
            frac = np.where(free, share - add, -1.0)
            add[np.argsort(-frac, kind="stable")[:left]] += 1
        n = np.minimum(n + add, cap)
        remaining = total - int(n.sum())
    return n


def _popularity_draw(rng, shape, n_items: int, zipf: float, rank_item: np.ndarray) -> np.ndarray:
    """Items with P(rank r) ≈ ∝ r^(-zipf): inverse CDF of the continuous power law on [1, n+1)."""
    u = rng.random(shape, dtype=np.float32)
    if zipf == 0:
        x = 1.0 + u * np.float32(n_items)
    elif abs(zipf - 1.0) < 1e-12:
        x = np.exp(u * np.float32(np.log(n_items + 1.0)))
    else:
        a = 1.0 - zipf
        x = (1.0 + u * np.float32((n_items + 1.0) ** a - 1.0)) ** np.float32(1.0 / a)
    rank = np.minimum(x.astype(np.int64) - 1, n_items - 1)
    return rank_item[rank]


def _draw(rng, slot_user, noisy, U, V, zipf, rank_item):
    """One item per slot: best of N_CANDIDATES popularity draws by affinity, or uniform if noisy.

    "Best" is the arg-max of ``BETA·a(u, j) + Gumbel`` (written as ``BETA·a - log E``
    with ``E ~ Exp(1)``), i.e. a softmax choice among the candidates.
    """
    n_items = len(V)
    out = np.empty(len(slot_user), dtype=np.int64)
    scale = np.float32(BETA / np.sqrt(U.shape[1]))
    for lo in range(0, len(slot_user), _CHUNK):
        us = slot_user[lo : lo + _CHUNK]
        m = len(us)
        cand = _popularity_draw(rng, (m, N_CANDIDATES), n_items, zipf, rank_item)
        score = np.einsum("mcd,md->mc", V[cand], U[us]) * scale
        score -= np.log(rng.standard_exponential((m, N_CANDIDATES), dtype=np.float32) + np.float32(1e-30))
        out[lo : lo + m] = cand[np.arange(m), np.argmax(score, axis=1)]
    rnd = rng.integers(0, n_items, len(slot_user))
    return np.where(noisy, rnd, out)


def _check_args(
    n_users, n_items, n_interactions, embedding_size, n_item_groups, zipf, minority_share, minority_noise,
    minority_activity, seed,
) -> tuple[int, int, int, int, int, float, float, float, float]:
    """Validate :func:`make_synthetic`'s arguments; return them normalised (seed excluded)."""
    owner = "make_synthetic"
    n_users = check_positive_int(n_users, "n_users", owner)
    n_items = check_positive_int(n_items, "n_items", owner)
    n_interactions = check_positive_int(n_interactions, "n_interactions", owner)
    embedding_size = check_positive_int(embedding_size, "embedding_size", owner)
    n_item_groups = check_positive_int(n_item_groups, "n_item_groups", owner)
    zipf = check_nonneg_float(zipf, "zipf", owner)
    minority_share = check_fraction(minority_share, "minority_share", owner, closed=True)
    minority_noise = check_fraction(minority_noise, "minority_noise", owner, closed=True)
    minority_activity = check_nonneg_float(minority_activity, "minority_activity", owner)
    check_param(minority_activity, "minority_activity", owner, "a positive number", minority_activity > 0)
    check_param(seed, "seed", owner, "an int", isinstance(seed, (int, np.integer)) and not isinstance(seed, bool))
    if n_interactions > n_users * n_items:
        raise RecfairError(TOO_MANY_INTERACTIONS.format(n=n_interactions, cap=n_users * n_items))
    if n_interactions < n_users:
        raise RecfairError(TOO_FEW_INTERACTIONS.format(n=n_interactions, users=n_users))
    return (n_users, n_items, n_interactions, embedding_size, n_item_groups, zipf, minority_share,
            minority_noise, minority_activity)


def _latent(rng, n_users: int, n_items: int, embedding_size: int, n_item_groups: int, minority_share: float):
    """Steps 1–3: minority mask, item groups, user/item factors ``U``/``V`` and the popularity ranking."""
    minority = np.zeros(n_users, dtype=bool)
    minority[rng.permutation(n_users)[: int(round(minority_share * n_users))]] = True
    item_group = rng.permutation(np.arange(n_items) % n_item_groups)
    centroids = rng.standard_normal((n_item_groups, embedding_size))
    V = (centroids[item_group] + 0.6 * rng.standard_normal((n_items, embedding_size))).astype(np.float32)
    fav = rng.integers(0, n_item_groups, n_users)
    U = (centroids[fav] + 0.8 * rng.standard_normal((n_users, embedding_size))).astype(np.float32)
    rank_item = rng.permutation(n_items)  # rank_item[r] = the item of popularity rank r + 1
    return minority, item_group, U, V, rank_item


def _draw_pairs(rng, n_u: np.ndarray, noise_rate: np.ndarray, U, V, zipf: float, rank_item) -> np.ndarray:
    """Step 5: exactly ``n_u[u]`` distinct items per user, as packed keys ``user·n_items + item``.

    Draw, drop repeated pairs, redraw each user's deficit until every user has
    ``n_u`` distinct items.  Redraw round r tempers popularity and affinity by
    0.5**r, so heavy users' extra items come from a progressively flatter
    distribution; users still short after ``_MAX_ROUNDS`` are filled from their
    unused items.  Keys are returned unsorted across rounds.
    """
    n_users, n_items = len(U), len(V)
    slot_user = np.repeat(np.arange(n_users, dtype=np.int64), n_u)
    chunks: list[np.ndarray] = []
    have = np.zeros(n_users, dtype=np.int64)
    for r in range(_MAX_ROUNDS):
        if len(slot_user) == 0:
            break
        temper = 0.5**r
        noisy = rng.random(len(slot_user)) < noise_rate[slot_user]
        drawn = _draw(rng, slot_user, noisy, U * np.float32(temper), V, zipf * temper, rank_item)
        new = np.sort(slot_user * n_items + drawn)
        new = new[np.r_[True, new[1:] != new[:-1]]]
        for old in chunks:
            pos = np.minimum(np.searchsorted(old, new), len(old) - 1)
            new = new[old[pos] != new]
        if len(new):
            chunks.append(new)
        have += np.bincount(new // n_items, minlength=n_users)
        slot_user = np.repeat(np.arange(n_users, dtype=np.int64), n_u - have)
    keys = np.concatenate(chunks)
    if len(slot_user):  # users holding almost the whole catalogue: fill from their unused items
        extra = []
        for u in np.unique(slot_user):
            used = keys[(keys // n_items) == u] % n_items
            free = np.setdiff1d(np.arange(n_items), used)
            extra.append(u * n_items + rng.choice(free, int((slot_user == u).sum()), replace=False))
        keys = np.concatenate([keys, *extra])
    return keys


def _time_order(rng, keys: np.ndarray, n_users: int, n_items: int, n_u: np.ndarray):
    """Step 6 (timestamps): ``(user, item, timestamp)`` grouped by user, time-ordered within each.

    A random order within each user (one sort of user | random bits | item
    packed into uint64), then exponential gaps from a per-user start time.
    """
    m = len(keys)
    item_bits = max(1, int(n_items - 1).bit_length())
    user_bits = max(1, int(n_users - 1).bit_length())
    rand_bits = 64 - item_bits - user_bits
    user = (keys // n_items).astype(np.uint64)
    noise_key = rng.integers(0, 1 << min(rand_bits, 62), m, dtype=np.uint64) if rand_bits > 0 else 0
    packed = (user << np.uint64(64 - user_bits)) | (noise_key << np.uint64(item_bits)) | (keys % n_items).astype(np.uint64)
    packed.sort()
    user = (packed >> np.uint64(64 - user_bits)).astype(np.int32)
    item = (packed & np.uint64((1 << item_bits) - 1)).astype(np.int32)
    del packed
    duration = rng.uniform(0.1, 0.5, n_users) * _SPAN  # each user is active for 10–50% of the span
    mean_gap = duration / np.maximum(n_u, 1)
    gaps = (rng.standard_exponential(m) * mean_gap[user]).astype(np.int64) + 1
    csum = np.cumsum(gaps)
    starts = np.concatenate([[0], np.cumsum(n_u)[:-1]])
    before = np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0)
    start_time = _T0 + rng.integers(0, _SPAN // 2, n_users)
    timestamp = start_time[user] + csum - before[user]
    return user, item, timestamp


def _ratings(rng, U, V, user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Step 6 (ratings): float32 stars from the standardised affinity plus N(0, 0.6²) noise."""
    m = len(user)
    aff = np.empty(m, dtype=np.float32)
    for lo in range(0, m, _CHUNK):
        aff[lo : lo + _CHUNK] = np.einsum("md,md->m", U[user[lo : lo + _CHUNK]], V[item[lo : lo + _CHUNK]])
    z = (aff - aff.mean()) / (aff.std() + 1e-12)
    return np.clip(np.rint(3.5 + 1.1 * z + rng.normal(0.0, 0.6, m)), 1, 5).astype(np.float32)


def _tables(rng, minority: np.ndarray, item_group: np.ndarray, n_item_groups: int):
    """The users table (group, gender, age) and items table (group, title, year, genres)."""
    n_users, n_items = len(minority), len(item_group)
    users = pd.DataFrame(
        {
            "group": np.where(minority, "minority", "majority").astype(object),
            "gender": np.where(minority, "F", "M").astype(object),
            "age": rng.integers(18, 66, n_users).astype(np.int64),
        },
        index=pd.RangeIndex(n_users, name="user"),
    )
    second = rng.random(n_items) < 0.3
    other = (item_group + rng.integers(1, max(2, n_item_groups), n_items)) % n_item_groups
    genres = [
        (f"genre{g}", f"genre{o}") if s and o != g else (f"genre{g}",)
        for g, o, s in zip(item_group.tolist(), other.tolist(), second.tolist())
    ]
    items = pd.DataFrame(
        {
            "group": np.array([f"g{g}" for g in item_group], dtype=object),
            "title": np.array([f"Item {j} (g{g})" for j, g in enumerate(item_group)], dtype=object),
            "year": rng.integers(1950, 2021, n_items).astype(np.float64),
            "genres": pd.Series(genres, dtype=object).to_numpy(),
        },
        index=pd.RangeIndex(n_items, name="item"),
    )
    return users, items


def make_synthetic(
    n_users: int = 1000,
    n_items: int = 500,
    n_interactions: int = 20000,
    *,
    embedding_size: int = 8,
    zipf: float = 1.0,
    minority_share: float = 0.3,
    minority_activity: float = 0.5,
    minority_noise: float = 0.5,
    n_item_groups: int = 3,
    seed: int = 0,
    name: str = "synthetic",
) -> Dataset:
    """Generate a :class:`Dataset` with latent preferences, popularity skew and a planted group gap.

    Parameters
    ----------
    n_users, n_items, n_interactions:
        Sizes; the result has exactly ``n_interactions`` distinct (user, item) pairs.
    embedding_size:
        Dimension of the latent factors.
    zipf:
        Zipf exponent of item popularity (0 = uniform).
    minority_share:
        Fraction of users in the minority group.
    minority_activity:
        Minority users' activity multiplier (1 = as active as the majority).
    minority_noise:
        Fraction of minority users' interactions drawn uniformly at random.
    n_item_groups:
        Number of item groups (``"g0"``…), each with its own genre and centroid.
    seed:
        Random seed; same seed ⇒ identical data set.

    Returns
    -------
    Dataset
        Users table: ``group``, ``gender``, ``age``; items table: ``group``,
        ``title``, ``year``, ``genres``.  Raw ids are ``"u0"…`` / ``"i0"…``.

    Examples
    --------
    >>> ds = make_synthetic(n_users=100, n_items=50, n_interactions=1000, seed=0)
    >>> ds.n_interactions, sorted(ds.users["group"].unique())
    (1000, ['majority', 'minority'])
    """
    (n_users, n_items, n_interactions, embedding_size, n_item_groups, zipf, minority_share, minority_noise,
     minority_activity) = _check_args(n_users, n_items, n_interactions, embedding_size, n_item_groups, zipf,
                                      minority_share, minority_noise, minority_activity, seed)
    rng = np.random.default_rng(seed)
    minority, item_group, U, V, rank_item = _latent(rng, n_users, n_items, embedding_size, n_item_groups,
                                                    minority_share)
    activity = rng.lognormal(0.0, 0.75, n_users)
    activity[minority] *= minority_activity
    n_u = _allocate(n_interactions, activity, n_items)
    noise_rate = np.where(minority, minority_noise, 0.0)
    keys = _draw_pairs(rng, n_u, noise_rate, U, V, zipf, rank_item)
    user, item, timestamp = _time_order(rng, keys, n_users, n_items, n_u)
    del keys
    rating = _ratings(rng, U, V, user, item)
    users, items = _tables(rng, minority, item_group, n_item_groups)
    user_ids = np.array([f"u{i}" for i in range(n_users)], dtype=object)
    item_ids = np.array([f"i{j}" for j in range(n_items)], dtype=object)
    return Dataset(user, item, rating, timestamp.astype(np.int64), user_ids, item_ids, users, items, name)


def planted_affinity(**params: Any) -> np.ndarray:
    """The planted affinity ``a(u, j) = <p_u, q_j> / sqrt(embedding_size)`` of :func:`make_synthetic`.

    Called with the same keyword arguments as :func:`make_synthetic`, with the same
    defaults (those that do not change the latent factors are ignored), it returns the ``(n_users, n_items)``
    float32 matrix the data set's preference-driven interactions were drawn from —
    the ground truth of a simulation on synthetic data.

    >>> planted_affinity(n_users=4, n_items=3, seed=0).shape
    (4, 3)
    """
    defaults = {name: p.default for name, p in inspect.signature(make_synthetic).parameters.items()}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise RecfairError(UNKNOWN_SYNTHETIC.format(unknown=", ".join(unknown), valid=", ".join(defaults)))
    a = defaults | params
    rng = np.random.default_rng(a["seed"])
    _, _, U, V, _ = _latent(rng, a["n_users"], a["n_items"], a["embedding_size"], a["n_item_groups"],
                            a["minority_share"])
    return (U @ V.T / np.float32(np.sqrt(a["embedding_size"]))).astype(np.float32)
