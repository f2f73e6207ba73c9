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
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from recfair.errors import ColdStartError, RecfairError, check_fraction
from recfair.recommendations import Recommendations

log = logging.getLogger(__name__)

NEW_ITEM_POPULARITY = "popularity-new-items"
NEW_ITEM_RANDOM = "random-new-items"


def table_columns(k: int) -> list[str]:
    """Columns of a cold-start table at cut-off ``k`` (metric columns are named ``ndcg@{k}``, ``recall@{k}``)."""
    return ["protocol", "model", "early_share", "early_users", f"ndcg@{k}", f"recall@{k}", "users", "fit_seconds", "status"]


def _metrics(recs: Recommendations, test, k: int) -> tuple[float, float]:
    from recfair.metrics.ranking import ndcg, recall

    return float(np.nanmean(ndcg(recs, test, k))), float(np.nanmean(recall(recs, test, k)))


def _row(protocol, name, recs, test, k, seconds, status="ok", early=(np.nan, np.nan)) -> dict:
    nd, rc = (np.nan, np.nan) if recs is None else _metrics(recs, test, k)
    return {"protocol": protocol, "model": name, "early_share": early[0], "early_users": early[1], f"ndcg@{k}": nd, f"recall@{k}": rc,
            "users": 0 if recs is None else len(recs), "fit_seconds": seconds, "status": status}


def split_test_users(test, seed: int, early_share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (early adopters, evaluated) users among those with test interactions.

    The users are cut in two seeded halves; the evaluated half is fixed by ``seed``
    alone, and the early adopters are the first ``round(early_share * half)`` users
    of the other half (so smaller shares are nested in larger ones).
    """
    check_fraction(early_share, "early_share", "evaluate_cold_items", closed=True)
    users = np.flatnonzero(test.user_counts > 0)
    perm = np.random.default_rng(seed).permutation(users)
    half = len(perm) // 2
    return np.sort(perm[: int(round(early_share * half))]), np.sort(perm[half:])


def new_item_popularity(split, *, k: int = 10, seed: int = 0, early_share: float = 1.0
                        ) -> tuple[Recommendations, np.ndarray]:
    """The popularity-among-new-items baseline and the users it (and every model) is scored on.

    New items are ranked by their number of early adopters (see
    :func:`split_test_users`); ties are broken in a seeded random order, so with
    ``early_share=0`` (nothing observed) the baseline is a random order.
    """
    if split.protocol != "cold-items":
        raise RecfairError(f"new-item popularity needs a 'cold-items' split; got '{split.protocol}'")
    test = split.test
    early, evaluated = split_test_users(test, seed, early_share)
    new_items = np.flatnonzero(test.item_counts > 0)
    in_early = np.isin(test.user, early)
    pop = np.bincount(test.item[in_early], minlength=test.n_items).astype(np.float64)
    tie = np.random.default_rng([seed, 1]).permutation(len(new_items))
    order = new_items[np.lexsort((tie, -pop[new_items]))][:k]
    items = np.tile(np.pad(order, (0, k - len(order)), constant_values=-1), (len(evaluated), 1))
    scores = np.where(items >= 0, pop[np.maximum(items, 0)], np.nan).astype(np.float32)
    return Recommendations(evaluated.astype(np.int32), items.astype(np.int32), scores), evaluated


def _random_new_items(evaluated, candidates, k: int, seed: int) -> Recommendations:
    noise = np.random.default_rng(seed).random((len(evaluated), len(candidates)))
    top = np.argsort(-noise, axis=1, kind="stable")[:, :k]
    return Recommendations(evaluated.astype(np.int32), candidates[top].astype(np.int32),
                           np.take_along_axis(noise, top, axis=1).astype(np.float32))


def evaluate_cold_items(
    models: Mapping[str, object], split, *, k: int = 10, seed: int = 0, observe_early: bool = False,
    early_share: float = 1.0,
) -> pd.DataFrame:
    """Fit each (unfitted) model on ``split.train``; rank only the held-out items. One row per model.

    With ``observe_early`` every model is first given the early adopters' test
    interactions through :meth:`observe` — the same information the new-item
    popularity baseline counts — so models that fold new items in can use them.
    ``early_share`` (0–1) is the share of the early-adopter half that is
    observed (by the baseline and, with ``observe_early``, by the models).
    """
    return cold_item_curve(models, split, k=k, seed=seed, early_shares=(early_share,),
                           observe_early=observe_early)


def cold_item_curve(
    models: Mapping[str, object], split, *, k: int = 10, seed: int = 0,
    early_shares: Sequence[float] = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0), observe_early: bool = True,
) -> pd.DataFrame:
    """New-item accuracy as a function of how many early adopters have been observed.

    Each model is fitted once on ``split.train`` (its fitted state kept through
    :meth:`save` / :meth:`load`); for every share in ``early_shares`` a fresh copy
    observes that share of the early-adopter half (with ``observe_early``) and
    ranks the new items for the evaluated half, next to the
    popularity-among-new-items baseline counted on exactly the same users.
    ``early_share=0`` is the text-only protocol (the baseline is then a random
    order: it has nothing to count).  Rows carry ``early_share`` and ``early_users``
    (their number; both NaN in cold-user rows).
    """
    import tempfile

    from recfair.models.base import Recommender

    test = split.test
    candidates = np.flatnonzero(test.item_counts > 0)
    protocol = "cold-items+early" if observe_early else "cold-items"
    rows: list[dict] = []
    baselines = []
    for share in early_shares:
        base, evaluated = new_item_popularity(split, k=k, seed=seed, early_share=share)
        early_users = split_test_users(test, seed, share)[0]
        n_early = len(early_users)
        baselines.append((share, evaluated, early_users))
        rows.append(_row(protocol, NEW_ITEM_POPULARITY, base, test, k, 0.0, early=(share, n_early)))
        rows.append(_row(protocol, NEW_ITEM_RANDOM, _random_new_items(evaluated, candidates, k, seed), test, k, 0.0,
                         early=(share, n_early)))
    with tempfile.TemporaryDirectory(prefix="recfair-cold-") as tmp:
        for i, (name, model) in enumerate(models.items()):
            t0 = time.perf_counter()
            model.fit(split.train)
            seconds = time.perf_counter() - t0
            saved = model.save(f"{tmp}/{i}") if len(early_shares) > 1 else None
            for j, (share, evaluated, early_users) in enumerate(baselines):
                current = Recommender.load(saved) if saved is not None and j > 0 else model
                n_early = len(early_users)
                try:
                    if observe_early and n_early:
                        current.observe(test.subset(np.isin(test.user, early_users)))
                    recs = current.recommend(evaluated, k=k, candidates=candidates)
                except ColdStartError as exc:
                    rows.append(_row(protocol, name, None, test, k, seconds, f"refused: {exc}", early=(share, n_early)))
                    continue
                rows.append(_row(protocol, name, recs, test, k, seconds, early=(share, n_early)))
    return pd.DataFrame(rows, columns=table_columns(k))


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
    return pd.DataFrame(rows, columns=table_columns(k))
