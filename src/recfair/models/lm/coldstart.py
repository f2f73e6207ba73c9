"""Cold-start evaluation: new items (given their text) and new users (given profile + first interactions).

Two protocols over splits made by :func:`recfair.data.split.make_split`:

``cold-items``
    20% of the items are held out of training entirely.  Every model is fitted
    on ``split.train`` and ranks *only the held-out items* (``candidates``) for
    the test users.  Baseline **popularity among new items**: the test users are
    cut in two seeded halves; the baseline ranks new items by how many users of
    the first half ("early adopters") interacted with them, and every model is
    scored on the second half only; ``random-new-items`` (a seeded random order)
    is the no-information floor.  (Counting popularity from the evaluated
    users' own test interactions would leak the answer.)  Two variants: *text
    only* (models see nothing about the new items but their text) and
    ``observe_early`` (models get the early adopters' interactions through
    :meth:`~recfair.models.base.Recommender.observe`, exactly what the baseline
    counts; ``lm-frozen`` / ``lm-hybrid`` fold the new items in).
``cold-users``
    20% of the users are held out of training; each is known by profile and their
    first ``n_history`` interactions (``split.history``), which every model gets
    through :meth:`Recommender.observe` (and which are excluded from the lists);
    the rest of their interactions are the test set.  Baseline: ``popularity``.

Models that cannot handle the protocol raise :class:`ColdStartError`; the
result table records the message in ``status`` instead of a number.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping

import numpy as np
import pandas as pd

from recfair.errors import ColdStartError, RecfairError
from recfair.recommendations import Recommendations

log = logging.getLogger(__name__)

NEW_ITEM_POPULARITY = "popularity-new-items"
NEW_ITEM_RANDOM = "random-new-items"
COLUMNS = ["protocol", "model", "ndcg@10", "recall@10", "users", "fit_seconds", "status"]


def _metrics(recs: Recommendations, test, k: int) -> tuple[float, float]:
    from recfair.metrics.ranking import ndcg, recall

    return float(np.nanmean(ndcg(recs, test, k))), float(np.nanmean(recall(recs, test, k)))


def _row(protocol, name, recs, test, k, seconds, status="ok") -> dict:
    if recs is None:
        return {"protocol": protocol, "model": name, "ndcg@10": np.nan, "recall@10": np.nan, "users": 0,
                "fit_seconds": seconds, "status": status}
    nd, rc = _metrics(recs, test, k)
    return {"protocol": protocol, "model": name, "ndcg@10": nd, "recall@10": rc, "users": len(recs),
            "fit_seconds": seconds, "status": status}


def split_test_users(test, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded halves (early adopters, evaluated) of the users with test interactions."""
    users = np.flatnonzero(test.user_counts > 0)
    perm = np.random.default_rng(seed).permutation(users)
    half = len(perm) // 2
    return np.sort(perm[:half]), np.sort(perm[half:])


def new_item_popularity(split, *, k: int = 10, seed: int = 0) -> tuple[Recommendations, np.ndarray]:
    """The popularity-among-new-items baseline and the users it (and every model) is scored on."""
    if split.protocol != "cold-items":
        raise RecfairError(f"new-item popularity needs a 'cold-items' split; got '{split.protocol}'")
    test = split.test
    early, evaluated = split_test_users(test, seed)
    new_items = np.flatnonzero(test.item_counts > 0)
    in_early = np.isin(test.user, early)
    pop = np.bincount(test.item[in_early], minlength=test.n_items).astype(np.float64)
    order = new_items[np.lexsort((new_items, -pop[new_items]))][:k]
    items = np.tile(np.pad(order, (0, k - len(order)), constant_values=-1), (len(evaluated), 1))
    scores = np.where(items >= 0, pop[np.maximum(items, 0)], np.nan).astype(np.float32)
    return Recommendations(evaluated.astype(np.int32), items.astype(np.int32), scores), evaluated


def evaluate_cold_items(
    models: Mapping[str, object], split, *, k: int = 10, seed: int = 0, observe_early: bool = False
) -> pd.DataFrame:
    """Fit each (unfitted) model on ``split.train``; rank only the held-out items. One row per model.

    With ``observe_early`` every model is first given the early adopters' test
    interactions through :meth:`observe` — the same information the new-item
    popularity baseline counts — so models that fold new items in can use them.
    """
    test = split.test
    base, evaluated = new_item_popularity(split, k=k, seed=seed)
    early = test.subset(~np.isin(test.user, evaluated))
    candidates = np.flatnonzero(test.item_counts > 0)
    protocol = "cold-items+early" if observe_early else "cold-items"
    rng = np.random.default_rng(seed)
    noise = rng.random((len(evaluated), len(candidates)))
    top = np.argsort(-noise, axis=1, kind="stable")[:, :k]
    rand = Recommendations(evaluated.astype(np.int32), candidates[top].astype(np.int32),
                           np.take_along_axis(noise, top, axis=1).astype(np.float32))
    rows = [_row(protocol, NEW_ITEM_POPULARITY, base, test, k, 0.0), _row(protocol, NEW_ITEM_RANDOM, rand, test, k, 0.0)]
    for name, model in models.items():
        t0 = time.perf_counter()
        try:
            model.fit(split.train)
            seconds = time.perf_counter() - t0
            if observe_early:
                model.observe(early)
            recs = model.recommend(evaluated, k=k, candidates=candidates)
        except ColdStartError as exc:
            rows.append(_row(protocol, name, None, test, k, time.perf_counter() - t0, f"refused: {exc}"))
            continue
        rows.append(_row(protocol, name, recs, test, k, seconds))
    return pd.DataFrame(rows, columns=COLUMNS)


def evaluate_cold_users(models: Mapping[str, object], split, *, k: int = 10) -> pd.DataFrame:
    """Fit on ``split.train``, ``observe(split.history)``, rank everything for the held-out users."""
    if split.protocol != "cold-users" or split.history is None:
        raise RecfairError(f"cold-user evaluation needs a 'cold-users' split; got '{split.protocol}'")
    test = split.test
    users = np.flatnonzero(test.user_counts > 0)
    rows = []
    for name, model in models.items():
        t0 = time.perf_counter()
        try:
            model.fit(split.train)
            seconds = time.perf_counter() - t0
            model.observe(split.history)
            recs = model.recommend(users, k=k, exclude_seen=True)
        except ColdStartError as exc:
            rows.append(_row("cold-users", name, None, test, k, time.perf_counter() - t0, f"refused: {exc}"))
            continue
        rows.append(_row("cold-users", name, recs, test, k, seconds))
    return pd.DataFrame(rows, columns=COLUMNS)
