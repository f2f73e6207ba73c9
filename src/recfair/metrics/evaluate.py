"""``evaluate``: every per-user metric as one table, plus overall values.

The per-user table is what the fairness audit consumes: any column can be
disaggregated by any user group with no code per metric.  Metrics live in a
registry (:data:`PER_USER_METRICS`, name → :class:`MetricSpec`); a new metric
is one :func:`register_metric` call.

Which users are evaluated
-------------------------
* The population is every user with at least one test interaction (after the
  optional ``relevance_threshold``), in ascending index order.
* Users in ``recs`` with no test interaction are skipped and counted
  (``n_skipped``), as METRICS.md prescribes.
* Test users absent from ``recs`` are *not* skipped: with ``missing="miss"``
  (default) they get an empty list — every accuracy metric 0 — and are counted
  in ``n_missing`` with a logged warning; ``missing="raise"`` makes it an error.
* A user listed twice in ``recs`` is an error.

Everything is a pure function of the lists; nothing depends on batch sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.errors import RecfairError, check_positive_int
from recfair.metrics import beyond, ranking
from recfair.metrics.rating import per_user_errors
from recfair.recommendations import PAD, Recommendations

log = logging.getLogger(__name__)

__all__ = [
    "Evaluation",
    "MetricContext",
    "MetricSpec",
    "PER_USER_METRICS",
    "evaluate",
    "register_metric",
]

UNKNOWN_METRIC = "Unknown metric '{name}'. Valid metrics: {choices}."
NEEDS_TRAIN = "Metric '{name}' needs the training set: call evaluate(recs, test, train=train, ...)."
MISSING_USERS = (
    "{n} test users have no recommendations (e.g. user index {example}); full-ranking evaluation "
    "needs a list for every test user. Pass missing='miss' to count them as all-miss."
)
DUPLICATE_USERS = "Recommendations list user index {example} more than once; each user needs exactly one list."
BAD_MISSING = "The 'missing' parameter of evaluate must be 'miss' or 'raise'. Got {value!r} instead."
NO_RATINGS = "relevance_threshold needs test ratings, but the test set has none."
OTHER_INDEX_SPACE = (
    "train and test must share one index space: train has {tu} users × {ti} items, test {su} × {si}. "
    "Use the parts of one split."
)
BAD_PREDICTIONS = "predictions must have one value per test interaction ({n}); got shape {shape}."


@dataclass
class MetricContext:
    """What a registered metric sees: the aligned lists, test, train and cached pieces.

    ``recs`` holds exactly the evaluated users (ascending) with lists of length ≥ ``k``.
    """

    recs: Recommendations
    test: object
    k: int
    train: object | None = None
    item_vectors: np.ndarray | None = None

    @cached_property
    def items(self) -> np.ndarray:
        """``(n, k)`` lists cut at ``k``, repeats replaced by PAD."""
        return ranking.lists_at_k(self.recs, self.k)

    @cached_property
    def hits(self) -> np.ndarray:
        """Boolean ``(n, k)``: whether each position of :attr:`items` is a test item of its user."""
        return ranking.hits_from_lists(self.recs.users, self.items, self.test)

    @cached_property
    def sizes(self) -> np.ndarray:
        """``|T_u|`` (int64) for each user of ``recs``: the number of its test items."""
        return ranking.relevant_counts(self.recs, self.test)

    @cached_property
    def lists(self) -> sp.csr_matrix:
        """0/1 ``(n, n_items)`` CSR list matrix of :attr:`items` (the input of the ``*_from_lists`` metrics)."""
        return beyond.list_matrix_from_lists(self.items, self.test.n_items)


@dataclass(frozen=True)
class MetricSpec:
    """A registered per-user metric.

    ``fn(ctx: MetricContext) -> np.ndarray`` returns float64 values aligned with
    ``ctx.recs.users``.  The column is named ``f"{name}@{k}"``.
    """

    name: str
    fn: Callable[[MetricContext], np.ndarray]
    needs_train: bool = False
    higher_is_better: bool | None = True
    description: str = ""
    #: skipped silently (not an error) when left to the default set and unavailable
    available: Callable[[MetricContext], bool] = field(default=lambda ctx: True)


PER_USER_METRICS: dict[str, MetricSpec] = {}


def register_metric(
    name: str,
    fn: Callable[[MetricContext], np.ndarray],
    *,
    needs_train: bool = False,
    higher_is_better: bool | None = True,
    description: str = "",
    available: Callable[[MetricContext], bool] | None = None,
) -> MetricSpec:
    """Add (or replace) a per-user metric in :data:`PER_USER_METRICS`.

    ``name`` is lower case without ``@`` (the column becomes ``name@k``).
    """
    if not name or name != name.lower() or "@" in name:
        raise RecfairError(f"metric names must be lower case without '@', got {name!r}")
    spec = MetricSpec(name, fn, needs_train, higher_is_better, description, available or (lambda ctx: True))
    PER_USER_METRICS[name] = spec
    return spec


def _has_genres(ctx: MetricContext) -> bool:
    return "genres" in ctx.test.items.columns


def _ild(ctx: MetricContext) -> np.ndarray:
    vectors = ctx.item_vectors
    if vectors is None:
        vectors, _ = beyond.genre_matrix(ctx.test)
    return beyond.ild_from_lists(ctx.lists, vectors)


for _name, _from_hits, _desc in [
    ("precision", ranking.precision_from_hits, "|L_u ∩ T_u| / k"),
    ("recall", ranking.recall_from_hits, "|L_u ∩ T_u| / |T_u|"),
    ("hit", ranking.hit_rate_from_hits, "1[L_u ∩ T_u ≠ ∅] (HitRate)"),
    ("ndcg", ranking.ndcg_from_hits, "DCG / ideal DCG over min(k, |T_u|)"),
    ("mrr", ranking.mrr_from_hits, "1 / rank of first hit"),
    ("map", ranking.map_from_hits, "Σ P@i·rel_i / min(k, |T_u|)"),
]:
    register_metric(_name, (lambda f: lambda ctx: f(ctx.hits, ctx.sizes))(_from_hits), description=_desc)

register_metric(
    "arp", lambda ctx: beyond.arp_from_lists(ctx.lists, ctx.train), needs_train=True,
    higher_is_better=None, description="mean training popularity of the list",
)
register_metric(
    "aplt", lambda ctx: beyond.tail_counts_from_lists(ctx.lists, ctx.train) / ctx.k, needs_train=True,
    description="share of the k positions holding long-tail items",
)
register_metric(
    "aclt", lambda ctx: beyond.tail_counts_from_lists(ctx.lists, ctx.train), needs_train=True,
    description="number of long-tail items in the list",
)
register_metric(
    "novelty", lambda ctx: beyond.novelty_from_lists(ctx.lists, ctx.train), needs_train=True,
    description="mean −log2(pop_j / |U|)",
)
register_metric(
    "ild", _ild, description="mean pairwise 1 − cos over item vectors (given, or the test set's genres)",
    available=lambda ctx: ctx.item_vectors is not None or _has_genres(ctx),
)
register_metric(
    "miscalibration",
    lambda ctx: beyond.miscalibration_from_lists(ctx.lists, ctx.recs.users, ctx.train),
    needs_train=True, higher_is_better=False, available=_has_genres,
    description="Steck KL(p ‖ 0.99q + 0.01p) over genres",
)
register_metric(
    "popcal", lambda ctx: beyond.popcal_from_lists(ctx.lists, ctx.recs.users, ctx.train),
    needs_train=True, higher_is_better=False, description="JS divergence of head/mid/tail shares",
)


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    per_user:
        DataFrame indexed by user index (index name ``"user"``), one float64
        column per per-user metric (``ndcg@10``, ``recall@10``, …).
    overall:
        name → float: the mean of every per-user column over users where it is
        defined, plus global ``coverage@k`` and ``gini@k`` (and ``rmse`` /
        ``mae`` over test pairs when predictions were given).  Each metric
        appears once.
    k, n_users, n_skipped, n_missing:
        Cut-off; users evaluated; users in ``recs`` without test items (left
        out); test users without a list (counted as all-miss).
    exposure:
        ``E_j`` of every item over the evaluated users' lists.
    """

    per_user: pd.DataFrame
    overall: dict[str, float]
    k: int
    n_users: int
    n_skipped: int
    n_missing: int
    exposure: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Tidy ``metric, value`` table of :attr:`overall`."""
        return pd.DataFrame({"metric": list(self.overall), "value": list(self.overall.values())})


def _select_metrics(metrics: Iterable[str] | None, ctx: MetricContext) -> list[MetricSpec]:
    if metrics is None:
        return [
            s for s in PER_USER_METRICS.values()
            if (not s.needs_train or ctx.train is not None) and s.available(ctx)
        ]
    chosen = []
    for raw in metrics:
        name = str(raw).split("@")[0].lower()
        if name not in PER_USER_METRICS:
            raise RecfairError(UNKNOWN_METRIC.format(name=raw, choices=", ".join(PER_USER_METRICS)))
        spec = PER_USER_METRICS[name]
        if spec.needs_train and ctx.train is None:
            raise RecfairError(NEEDS_TRAIN.format(name=name))
        chosen.append(spec)
    return chosen


def _align(recs: Recommendations, test, k: int, missing: str) -> tuple[Recommendations, int, int]:
    """Lists of exactly the evaluated users (ascending), with empty lists for missing ones."""
    ranking.check_lists(recs, test.n_users, test.n_items)
    uniq, counts = np.unique(recs.users, return_counts=True)
    if (counts > 1).any():
        raise RecfairError(DUPLICATE_USERS.format(example=int(uniq[counts > 1][0])))
    sizes = np.diff(test.matrix.indptr)
    test_users = np.flatnonzero(sizes > 0)
    n_skipped = int((sizes[recs.users] == 0).sum())
    absent = np.setdiff1d(test_users, recs.users, assume_unique=True)
    if absent.size:
        if missing == "raise":
            raise RecfairError(MISSING_USERS.format(n=absent.size, example=int(absent[0])))
        log.warning("%d test users have no recommendations; counted as all-miss", absent.size)
    width = max(recs.k, k)
    items = np.full((test_users.size, width), PAD, dtype=np.int32)
    scores = np.full((test_users.size, width), np.nan, dtype=np.float32)
    src = pd.Index(recs.users).get_indexer(test_users)
    have = src >= 0
    items[have, : recs.k] = recs.items[src[have]]
    scores[have, : recs.k] = recs.scores[src[have]]
    return Recommendations(test_users.astype(np.int32), items, scores), n_skipped, int(absent.size)


def _check_inputs(test, train, missing: str, relevance_threshold: float | None,
                  predictions: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
    """Validate :func:`evaluate`'s options; the relevant test pairs and the predictions as float64."""
    if missing not in ("miss", "raise"):
        raise RecfairError(BAD_MISSING.format(value=missing))
    if train is not None and (train.n_users, train.n_items) != (test.n_users, test.n_items):
        raise RecfairError(
            OTHER_INDEX_SPACE.format(tu=train.n_users, ti=train.n_items, su=test.n_users, si=test.n_items)
        )
    if predictions is not None:
        predictions = np.asarray(predictions, dtype=np.float64)
        if predictions.shape != (test.n_interactions,):
            raise RecfairError(BAD_PREDICTIONS.format(n=test.n_interactions, shape=predictions.shape))
    if relevance_threshold is not None:
        if test.rating is None:
            raise RecfairError(NO_RATINGS)
        test = test.subset(test.rating >= relevance_threshold)
    return test, predictions


def evaluate(
    recs: Recommendations,
    test,
    *,
    train=None,
    k: int = 10,
    metrics: Iterable[str] | None = None,
    item_vectors: np.ndarray | None = None,
    missing: str = "miss",
    relevance_threshold: float | None = None,
    predictions: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate ranked lists against held-out interactions.

    Parameters
    ----------
    recs:
        Ranked lists (any order of users; only the first ``k`` positions count).
    test:
        Held-out interactions; relevance is binary (every test pair is relevant).
    train:
        Training interactions; needed for popularity- and profile-based
        metrics (``arp``, ``aplt``, ``aclt``, ``novelty``, ``miscalibration``,
        ``popcal``), which are skipped without it (asking for one by name
        without it is an error).  ``ild`` needs no training data: it uses
        ``item_vectors`` or the genres of the item table.
    k:
        Cut-off.
    metrics:
        Names from :data:`PER_USER_METRICS` (``"ndcg"`` or ``"ndcg@10"``);
        default: all that the inputs allow.
    item_vectors:
        ``(n_items, d)`` vectors for intra-list diversity (default: genres).
    missing:
        ``"miss"`` (test users without a list count as all-miss) or ``"raise"``.
    relevance_threshold:
        When given, only test pairs with rating ≥ this value are relevant.
    predictions:
        Predicted ratings aligned with the test interactions (before the
        threshold), adding per-user ``user_rmse`` / ``user_mae`` columns and
        overall ``rmse`` / ``mae`` over all test pairs.

    Examples
    --------
    >>> ev = evaluate(recs, split.test, train=split.train, k=10)  # doctest: +SKIP
    >>> ev.overall["ndcg@10"], ev.per_user["recall@10"].head()  # doctest: +SKIP
    """
    k = check_positive_int(k, "k", "evaluate")
    full_test = test
    test, predictions = _check_inputs(test, train, missing, relevance_threshold, predictions)
    aligned, n_skipped, n_missing = _align(recs, test, k, missing)
    ctx = MetricContext(aligned, test, k, train, item_vectors)
    specs = _select_metrics(metrics, ctx)

    columns = {f"{s.name}@{k}": np.asarray(s.fn(ctx), dtype=np.float64) for s in specs}
    index = pd.Index(aligned.users.astype(np.int64), name="user")
    per_user = pd.DataFrame(columns, index=index)
    overall = {c: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for c, v in columns.items()}

    exposure = beyond.exposure_from_lists(ctx.items, test.n_items)
    overall[f"coverage@{k}"] = beyond.coverage_from_lists(ctx.items, test.n_items)
    overall[f"gini@{k}"] = beyond.gini(exposure)

    if predictions is not None:
        errors = per_user_errors(predictions, full_test)
        per_user = per_user.join(errors[["user_rmse", "user_mae"]], how="left")
        overall["user_rmse"] = float(per_user["user_rmse"].mean())
        overall["user_mae"] = float(per_user["user_mae"].mean())
        diff = predictions - full_test.rating
        overall["rmse"] = float(np.sqrt(np.mean(diff**2)))
        overall["mae"] = float(np.mean(np.abs(diff)))

    return Evaluation(per_user, overall, k, int(aligned.users.size), n_skipped, n_missing, exposure)
