"""Train / validation / test splits that share one index space.

Every protocol returns a :class:`Split` whose parts are
:meth:`Dataset.subset` views of the input: same users, items, raw-id maps and
attribute tables, so a user is the same row everywhere.  All work is
vectorised (one ``lexsort`` per split, no Python loop over users).

Protocols (the names the CLI uses):

``random``
    Per user, a seeded random ``max(1, floor(test_size·n_u))`` of the user's
    interactions are test (users with one interaction stay in train).
``user-temporal``
    Per user, interactions sorted by timestamp with a stable sort (ties keep
    file order); the last ``max(1, floor(test_size·n_u))`` are test.  The
    reference protocol of METRICS.md.
``global-temporal``
    One time cut: ``t_c`` is the timestamp at sorted position
    ``n - floor(test_size·n)``; interactions with ``timestamp < t_c`` are
    train, the rest test (ties at the cut go to test).  Test interactions of
    users or items with no training interaction are dropped and counted.
``leave-last``
    Per user, the last ``min(n, n_u - 1)`` interactions by time are test.
``cold-users``
    A seeded ``test_size`` fraction of the users with more than ``n_history``
    interactions is held out entirely: train has none of their interactions,
    their first ``n_history`` by time form ``history`` (given at inference,
    never trained on) and the rest ``test``.
``cold-items``
    A seeded ``test_size`` fraction of the items with interactions is held
    out entirely: test holds all their interactions, train none.  Test
    interactions of users left with no training interaction are dropped.

``valid_size > 0`` carves a validation part out of what would be train with the
same logic (per-user tails before the test tail; an earlier global cut; a
further set of held-out users or items).  Without timestamps, "by time" means
file order.  ``floor`` uses a 1e-9 tolerance so that ``0.29·100`` counts as 29.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from recfair.data.dataset import Dataset
from recfair.errors import BAD_PARAM, RecfairError, check_fraction

log = logging.getLogger(__name__)

SPLIT_PROTOCOLS = ("random", "user-temporal", "global-temporal", "leave-last", "cold-users", "cold-items")

UNKNOWN_PROTOCOL = "unknown split protocol {protocol!r}; choose one of: {choices}"
EMPTY_DATASET = "cannot split data set {name!r}: it has no interactions"
SIZES_TOO_LARGE = "test_size + valid_size must be below 1. Got {test} + {valid} = {total} instead."

_EPS = 1e-9


@dataclass(frozen=True)
class Split:
    """The parts of a split plus how it was made.

    Attributes
    ----------
    train, test:
        Datasets in the input's index space.
    valid:
        Validation part, or ``None`` when ``valid_size == 0``.
    history:
        For ``cold-users``: the held-out users' first interactions, given at
        inference time but never trained on; ``None`` otherwise.
    protocol, seed, params:
        How the split was made.
    dropped:
        Counts of what was dropped or left out of a part, and why.
    """

    train: Dataset
    test: Dataset
    valid: Dataset | None
    history: Dataset | None
    protocol: str
    seed: int | None
    params: dict = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        """Sizes of the parts and what was dropped, as a plain dict."""
        out = {"protocol": self.protocol, "seed": self.seed, **self.params}
        for part in ("train", "valid", "test", "history"):
            ds = getattr(self, part)
            if ds is not None:
                out[f"{part}_interactions"] = ds.n_interactions
                out[f"{part}_users"] = int((ds.user_counts > 0).sum())
        out.update({f"dropped_{k}": v for k, v in self.dropped.items()})
        return out


# ----------------------------------------------------------------- helpers
def _check_sizes(test_size: float, valid_size: float, owner: str) -> tuple[float, float]:
    test_size = check_fraction(test_size, "test_size", owner)
    ok = isinstance(valid_size, (int, float)) and not isinstance(valid_size, bool) and 0 <= valid_size < 1
    if not ok:
        raise RecfairError(BAD_PARAM.format(param="valid_size", owner=owner, expected="a number in [0, 1)",
                                            value=valid_size))
    if test_size + valid_size >= 1:
        raise RecfairError(SIZES_TOO_LARGE.format(test=test_size, valid=valid_size, total=test_size + valid_size))
    return float(test_size), float(valid_size)


def _check_int(value, param: str, owner: str, minimum: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    if not ok:
        expected = "a positive int" if minimum == 1 else "a non-negative int"
        raise RecfairError(BAD_PARAM.format(param=param, owner=owner, expected=expected, value=value))
    return int(value)


def _check_nonempty(ds: Dataset) -> None:
    if ds.n_interactions == 0:
        raise RecfairError(EMPTY_DATASET.format(name=ds.name))


def _time_key(ds: Dataset) -> tuple[np.ndarray, str]:
    if ds.timestamp is None:
        return np.arange(ds.n_interactions, dtype=np.int64), "file order"
    return ds.timestamp, "timestamp"


def _user_order(ds: Dataset, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order grouping interactions by user, sorted by ``key`` then file position.

    Returns ``(order, rank, n_u)``: positions in that order, each one's 0-based
    rank within its user, and its user's interaction count.
    """
    n = ds.n_interactions
    pos = np.arange(n)
    k = key.astype(np.int64, copy=False) - (int(key.min()) if n else 0)
    span = int(k.max()) + 1 if n else 1
    if span * max(ds.n_users, 1) < 2**62:  # one int64 key, stable sort: ties keep file order
        order = np.argsort(ds.user.astype(np.int64) * span + k, kind="stable")
    else:
        order = np.lexsort((pos, key, ds.user))
    counts = ds.user_counts
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    us = ds.user[order]
    rank = pos - starts[us]
    return order, rank, counts[us]


def _floor_frac(frac: float, counts: np.ndarray) -> np.ndarray:
    return np.floor(frac * counts + _EPS).astype(np.int64)


def _tail_parts(ds: Dataset, order, rank, n_u, n_test: np.ndarray, n_valid: np.ndarray):
    """Masks (file order) giving each user's last ``n_test`` to test and the ``n_valid`` before them to valid."""
    us = ds.user[order]
    from_end = n_u - rank  # 1 for the last interaction of a user
    t, v = n_test[us], n_valid[us]
    test_sorted = from_end <= t
    valid_sorted = (from_end > t) & (from_end <= t + v)
    test = np.zeros(ds.n_interactions, dtype=bool)
    valid = np.zeros(ds.n_interactions, dtype=bool)
    test[order] = test_sorted
    valid[order] = valid_sorted
    return test, valid


def _per_user_counts(counts: np.ndarray, test_size: float, valid_size: float):
    """Test and valid counts per user for the ratio protocols (each user keeps ≥ 1 train interaction)."""
    n_test = np.where(counts >= 2, np.maximum(1, _floor_frac(test_size, counts)), 0)
    n_test = np.minimum(n_test, np.maximum(counts - 1, 0))
    n_valid = np.zeros_like(n_test)
    if valid_size > 0:
        room = np.maximum(counts - n_test - 1, 0)
        n_valid = np.minimum(np.maximum(1, _floor_frac(valid_size, counts)), room)
    return n_test, n_valid


def _assemble(ds, train, test, valid, history, protocol, seed, params, dropped) -> Split:
    def part(mask, label):
        return None if mask is None else ds.subset(mask, name=f"{ds.name}/{label}")

    split = Split(part(train, "train"), part(test, "test"), part(valid, "valid"), part(history, "history"),
                  protocol, seed, params, {k: int(v) for k, v in dropped.items()})
    log.info("split %s of %s: %s", protocol, ds.name, split.summary())
    return split


def _ratio_split(ds, order, rank, n_u, test_size, valid_size, protocol, seed, params) -> Split:
    counts = ds.user_counts
    n_test, n_valid = _per_user_counts(counts, test_size, valid_size)
    test, valid = _tail_parts(ds, order, rank, n_u, n_test, n_valid)
    dropped = {"users_single_interaction": int((counts == 1).sum())}
    if valid_size > 0:
        dropped["users_without_valid"] = int(((counts > 0) & (n_valid == 0)).sum())
    return _assemble(ds, ~(test | valid), test, valid if valid_size > 0 else None, None,
                     protocol, seed, params, dropped)


# ---------------------------------------------------------------- protocols
def split_user_temporal(ds: Dataset, *, test_size: float = 0.2, valid_size: float = 0.0) -> Split:
    """Per user, the last ``max(1, floor(test_size·n_u))`` interactions by time are test.

    Stable sort by timestamp (ties keep file order).  Users with a single
    interaction stay in train and are counted in ``dropped["users_single_interaction"]``.
    """
    _check_nonempty(ds)
    test_size, valid_size = _check_sizes(test_size, valid_size, "split_user_temporal")
    key, order_by = _time_key(ds)
    order, rank, n_u = _user_order(ds, key)
    params = {"test_size": test_size, "valid_size": valid_size, "order": order_by}
    return _ratio_split(ds, order, rank, n_u, test_size, valid_size, "user-temporal", None, params)


def split_random(ds: Dataset, *, test_size: float = 0.2, valid_size: float = 0.0, seed: int | None = 0) -> Split:
    """Per user, a seeded random ``max(1, floor(test_size·n_u))`` of the interactions are test."""
    _check_nonempty(ds)
    test_size, valid_size = _check_sizes(test_size, valid_size, "split_random")
    rng = np.random.default_rng(seed)
    order, rank, n_u = _user_order(ds, rng.permutation(ds.n_interactions))
    params = {"test_size": test_size, "valid_size": valid_size}
    return _ratio_split(ds, order, rank, n_u, test_size, valid_size, "random", seed, params)


def split_leave_last(ds: Dataset, *, n: int = 1, valid_size: float = 0.0) -> Split:
    """Per user, the last ``min(n, n_u - 1)`` interactions by time are test.

    With ``valid_size > 0`` the ``n`` interactions before those are valid
    (again leaving at least one in train).
    """
    _check_nonempty(ds)
    n = _check_int(n, "n", "split_leave_last", 1)
    _, valid_size = _check_sizes(0.5, valid_size, "split_leave_last")
    key, order_by = _time_key(ds)
    order, rank, n_u = _user_order(ds, key)
    counts = ds.user_counts
    n_test = np.minimum(n, np.maximum(counts - 1, 0))
    n_valid = np.minimum(n, np.maximum(counts - n_test - 1, 0)) if valid_size > 0 else np.zeros_like(n_test)
    test, valid = _tail_parts(ds, order, rank, n_u, n_test, n_valid)
    dropped = {
        "users_single_interaction": int((counts == 1).sum()),
        "users_with_fewer_test": int(((counts > 0) & (n_test < n)).sum()),
    }
    if valid_size > 0:
        dropped["users_with_fewer_valid"] = int(((counts > 0) & (n_valid < n)).sum())
    params = {"n": n, "valid_size": valid_size, "order": order_by}
    return _assemble(ds, ~(test | valid), test, valid if valid_size > 0 else None, None,
                     "leave-last", None, params, dropped)


def split_global_temporal(ds: Dataset, *, test_size: float = 0.2, valid_size: float = 0.0) -> Split:
    """One global time cut at the ``1 - test_size`` quantile (ties at the cut go to test).

    Test (and valid) interactions whose user or item has no training
    interaction are dropped: ``dropped["test_unseen_user"]`` counts those with
    an unseen user, ``dropped["test_unseen_item"]`` those with a seen user
    but an unseen item.
    """
    _check_nonempty(ds)
    test_size, valid_size = _check_sizes(test_size, valid_size, "split_global_temporal")
    key, order_by = _time_key(ds)
    n = ds.n_interactions
    sorted_key = np.sort(key, kind="stable")
    n_test = int(np.floor(test_size * n + _EPS))
    n_valid = int(np.floor(valid_size * n + _EPS)) if valid_size > 0 else 0
    at = lambda k: sorted_key[min(max(n - k, 0), n - 1)] if k > 0 else np.iinfo(np.int64).max  # noqa: E731
    t_test = at(n_test)
    t_valid = at(n_test + n_valid) if valid_size > 0 else t_test
    train = key < t_valid
    test_raw = key >= t_test
    valid_raw = (key >= t_valid) & (key < t_test) if valid_size > 0 else None
    seen_u = np.bincount(ds.user[train], minlength=ds.n_users) > 0
    seen_i = np.bincount(ds.item[train], minlength=ds.n_items) > 0
    dropped = {}

    def keep_seen(raw, label):
        unseen_user = raw & ~seen_u[ds.user]
        unseen_item = raw & seen_u[ds.user] & ~seen_i[ds.item]
        dropped[f"{label}_unseen_user"] = int(unseen_user.sum())
        dropped[f"{label}_unseen_item"] = int(unseen_item.sum())
        return raw & ~unseen_user & ~unseen_item

    test = keep_seen(test_raw, "test")
    valid = keep_seen(valid_raw, "valid") if valid_raw is not None else None
    params = {"test_size": test_size, "valid_size": valid_size, "order": order_by,
              "cut": int(t_test) if n_test > 0 else None}
    if valid is not None:
        params["valid_cut"] = int(t_valid)
    return _assemble(ds, train, test, valid, None, "global-temporal", None, params, dropped)


def _held_out(rng, candidates: np.ndarray, test_size: float, valid_size: float):
    n = len(candidates)
    n_test = max(1, int(round(test_size * n))) if n else 0
    n_valid = max(1, int(round(valid_size * n))) if valid_size > 0 and n else 0
    perm = rng.permutation(candidates)
    return np.sort(perm[:n_test]), np.sort(perm[n_test : n_test + n_valid])


def split_cold_users(
    ds: Dataset, *, test_size: float = 0.2, valid_size: float = 0.0, seed: int | None = 0, n_history: int = 5
) -> Split:
    """Hold out a seeded ``test_size`` fraction of users entirely.

    Only users with more than ``n_history`` interactions can be held out
    (the others stay in train; counted in ``dropped["users_too_few_interactions"]``).
    Each held-out user's first ``n_history`` interactions by time go to
    ``history``, the rest to ``test`` (or ``valid`` for the validation users).
    """
    _check_nonempty(ds)
    test_size, valid_size = _check_sizes(test_size, valid_size, "split_cold_users")
    n_history = _check_int(n_history, "n_history", "split_cold_users", 0)
    counts = ds.user_counts
    eligible = np.flatnonzero(counts > n_history)
    rng = np.random.default_rng(seed)
    test_users, valid_users = _held_out(rng, eligible, test_size, valid_size)
    key, order_by = _time_key(ds)
    order, rank, _ = _user_order(ds, key)
    rank_file = np.empty_like(rank)
    rank_file[order] = rank
    role = np.zeros(ds.n_users, dtype=np.int8)  # 0 train, 1 test, 2 valid
    role[test_users], role[valid_users] = 1, 2
    r = role[ds.user]
    history = (r > 0) & (rank_file < n_history)
    test = (r == 1) & ~history
    valid = (r == 2) & ~history if valid_size > 0 else None
    dropped = {"users_too_few_interactions": int(((counts > 0) & (counts <= n_history)).sum())}
    params = {"test_size": test_size, "valid_size": valid_size, "n_history": n_history, "order": order_by,
              "n_test_users": len(test_users), "n_valid_users": len(valid_users)}
    return _assemble(ds, r == 0, test, valid, history, "cold-users", seed, params, dropped)


def split_cold_items(ds: Dataset, *, test_size: float = 0.2, valid_size: float = 0.0, seed: int | None = 0) -> Split:
    """Hold out a seeded ``test_size`` fraction of the items with interactions entirely.

    Test holds every interaction with a held-out item (valid: with a second
    set of held-out items); test / valid interactions whose user has no
    training interaction are dropped (``dropped["test_user_without_train"]``).
    """
    _check_nonempty(ds)
    test_size, valid_size = _check_sizes(test_size, valid_size, "split_cold_items")
    rng = np.random.default_rng(seed)
    test_items, valid_items = _held_out(rng, np.flatnonzero(ds.item_counts > 0), test_size, valid_size)
    role = np.zeros(ds.n_items, dtype=np.int8)
    role[test_items], role[valid_items] = 1, 2
    r = role[ds.item]
    train = r == 0
    seen_u = np.bincount(ds.user[train], minlength=ds.n_users) > 0
    ok = seen_u[ds.user]
    dropped = {"test_user_without_train": int(((r == 1) & ~ok).sum())}
    valid = None
    if valid_size > 0:
        valid = (r == 2) & ok
        dropped["valid_user_without_train"] = int(((r == 2) & ~ok).sum())
    params = {"test_size": test_size, "valid_size": valid_size,
              "n_test_items": len(test_items), "n_valid_items": len(valid_items)}
    return _assemble(ds, train, (r == 1) & ok, valid, None, "cold-items", seed, params, dropped)


def make_split(
    ds: Dataset,
    protocol: str,
    *,
    test_size: float = 0.2,
    valid_size: float = 0.0,
    seed: int | None = 0,
    n_history: int = 5,
    n: int = 1,
) -> Split:
    """Split ``ds`` with one of :data:`SPLIT_PROTOCOLS`.

    ``seed`` is used by ``random``, ``cold-users`` and ``cold-items`` (the
    others are deterministic and record ``seed=None``); ``n`` by
    ``leave-last``; ``n_history`` by ``cold-users``.

    Examples
    --------
    >>> from recfair.data.synthetic import make_synthetic
    >>> ds = make_synthetic(n_users=50, n_items=40, n_interactions=800, seed=1)
    >>> sp = make_split(ds, "user-temporal", test_size=0.2)
    >>> sp.train.n_interactions + sp.test.n_interactions == ds.n_interactions
    True
    """
    if protocol == "random":
        return split_random(ds, test_size=test_size, valid_size=valid_size, seed=seed)
    if protocol == "user-temporal":
        return split_user_temporal(ds, test_size=test_size, valid_size=valid_size)
    if protocol == "global-temporal":
        return split_global_temporal(ds, test_size=test_size, valid_size=valid_size)
    if protocol == "leave-last":
        return split_leave_last(ds, n=n, valid_size=valid_size)
    if protocol == "cold-users":
        return split_cold_users(ds, test_size=test_size, valid_size=valid_size, seed=seed, n_history=n_history)
    if protocol == "cold-items":
        return split_cold_items(ds, test_size=test_size, valid_size=valid_size, seed=seed)
    raise RecfairError(UNKNOWN_PROTOCOL.format(protocol=protocol, choices=", ".join(SPLIT_PROTOCOLS)))
