"""Interaction histories as the ``lm-*`` models train on them.

Each user's time-ordered row, where a training example's history ends
(:data:`HISTORY_SAMPLING`), history *bags* for ``F.embedding_bag`` (with dropout and a
recency window), their pooling, and the packing of strings into arrays for safetensors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from recfair.errors import RecfairError

UNKNOWN_TITLE = ("new user {i}: no catalogue item matches the title {title!r}; pass item indices, or titles as "
                 "the catalogue spells them (e.g. {example!r}).")
BAD_HISTORY_ITEM = "new user {i}: history entry {item!r} is not an item index in [0, {n}) or a title."


def pack_strings(prefix: str, strings: Sequence[str]) -> dict[str, np.ndarray]:
    """Strings as a UTF-8 byte array plus offsets (safetensors holds arrays only)."""
    raw = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in raw])
    data = np.frombuffer(b"".join(raw), dtype=np.uint8) if raw and offsets[-1] else np.zeros(0, np.uint8)
    return {f"{prefix}.bytes": data.copy(), f"{prefix}.offsets": offsets}


def unpack_strings(prefix: str, state: dict[str, np.ndarray]) -> list[str]:
    """The strings :func:`pack_strings` stored under ``prefix``."""
    data, offsets = state[f"{prefix}.bytes"].tobytes(), state[f"{prefix}.offsets"]
    return [data[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]


def time_ordered_rows(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-like rows of each user's items oldest first, and each interaction's rank in its row."""
    n = ds.n_interactions
    pos = np.arange(n)
    ts = ds.timestamp if ds.timestamp is not None else np.zeros(n, dtype=np.int64)
    order = np.lexsort((pos, ts, ds.user))
    counts = np.bincount(ds.user, minlength=ds.n_users)
    indptr = np.zeros(ds.n_users + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - indptr[ds.user[order]]
    return indptr, ds.item[order].astype(np.int64), ranks


def history_bags(indptr, indices, users, targets, dropout, rng, window=None, ends=None) -> tuple[torch.Tensor, ...]:
    """Per example: the user's items minus the target, each kept with prob ``1 - dropout``.

    A row is ``indices[indptr[u]:indptr[u+1]]``; with ``ends`` only the items
    before position ``ends[b]`` of the row are used (time-ordered rows give the
    prefix before the target) and with ``window`` only the last ``window`` of
    those.  Returns ``(cols, offsets, counts)`` for ``F.embedding_bag``.
    """
    stop = indptr[users + 1] if ends is None else indptr[users] + np.asarray(ends, dtype=np.int64)
    starts = indptr[users] if window is None else np.maximum(indptr[users], stop - int(window))
    counts = stop - starts
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(users)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cols = indices[np.repeat(starts, counts) + (np.arange(total) - first)]
    keep = np.ones(total, dtype=bool) if targets is None else cols != np.asarray(targets)[rows]
    if dropout > 0:
        keep &= rng.random(total) >= dropout
    rows, cols = rows[keep], cols[keep]
    cnt = np.bincount(rows, minlength=len(users))
    offsets = np.cumsum(cnt) - cnt
    return (torch.from_numpy(cols.astype(np.int64)), torch.from_numpy(offsets.astype(np.int64)),
            torch.from_numpy(cnt.astype(np.float32)))


HISTORY_SAMPLING = ("prefix", "random-cut", "mixed", "leave-one-out")


def history_ends(ranks: np.ndarray, mode: str, rng: np.random.Generator, cut_max: int | None = None) -> np.ndarray:
    """Where each training example's history ends in its user's time-ordered row.

    ``"prefix"``: right before the target (next-item training); ``"random-cut"``: at a
    uniform point in ``[0, rank]`` (the target is any later item, as for a new user's
    whole future), or in ``[0, min(rank, cut_max)]`` with ``cut_max`` (the history is
    then the user's first few items: a simulated new user); ``"mixed"``: each example
    one of the two with probability 1/2.
    """
    if mode == "prefix":
        return ranks
    cut = rng.integers(0, (ranks if cut_max is None else np.minimum(ranks, int(cut_max))) + 1)
    if mode == "random-cut":
        return cut
    return np.where(rng.random(len(ranks)) < 0.5, cut, ranks)


def bags_from_lists(histories: Sequence[np.ndarray], window: int | None) -> tuple[torch.Tensor, ...]:
    """``(cols, offsets, counts)`` bags of explicit histories (most recent first; the first ``window`` items)."""
    kept = [np.asarray(h, dtype=np.int64)[:window] for h in histories]
    counts = np.array([len(h) for h in kept], dtype=np.int64)
    cols = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    offsets = np.cumsum(counts) - counts
    return torch.from_numpy(cols), torch.from_numpy(offsets), torch.from_numpy(counts.astype(np.float32))


def pool_history(table: torch.Tensor, bags, norm: str = "mean") -> torch.Tensor:
    """Pooled history vectors: the bag sums of ``table`` rows divided by ``n`` (``"mean"``) or
    ``sqrt(n)`` (``"sqrt"``: shorter histories give smaller vectors, closer to the prior)."""
    import torch.nn.functional as F

    cols, offsets, counts = bags
    total = F.embedding_bag(cols, table, offsets, mode="sum")
    denom = counts.clamp(min=1.0) if norm == "mean" else counts.clamp(min=1.0).sqrt()
    return total / denom.unsqueeze(1)


def resolve_history(i: int, history, matcher, example: str, n_items: int) -> np.ndarray:
    """New user ``i``'s history (item indices or titles, oldest first) as item indices, most recent first, once each.

    Titles are matched by ``matcher`` (a :class:`~recfair.data.titles.TitleMatcher`);
    an unknown title or an index outside ``[0, n_items)`` is a :class:`RecfairError`.
    """
    if isinstance(history, str):
        history = [history]
    out = []
    for entry in history:
        if isinstance(entry, str):
            j = matcher.match(entry)
            if j is None:
                raise RecfairError(UNKNOWN_TITLE.format(i=i, title=entry, example=example))
            out.append(j)
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, bool) and 0 <= entry < n_items:
            out.append(int(entry))
        else:
            raise RecfairError(BAD_HISTORY_ITEM.format(i=i, item=entry, n=n_items))
    return np.array(list(dict.fromkeys(out[::-1])), dtype=np.int64)
