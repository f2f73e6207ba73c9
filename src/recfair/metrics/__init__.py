"""Evaluation metrics: top-k accuracy, rating error, beyond-accuracy, and :func:`evaluate`.

Exact definitions: docs/metrics.md (from METRICS.md).

>>> from recfair.metrics import evaluate          # doctest: +SKIP
>>> ev = evaluate(recs, split.test, train=split.train, k=10)  # doctest: +SKIP
>>> ev.overall["ndcg@10"], ev.per_user.columns    # doctest: +SKIP
"""

from recfair.metrics.beyond import (
    TIERS,
    aclt,
    aplt,
    arp,
    catalog_coverage,
    exposure_gini,
    genre_matrix,
    gini,
    intra_list_diversity,
    item_exposure,
    js_divergence,
    list_matrix,
    miscalibration,
    novelty,
    popularity_calibration,
    popularity_tiers,
    short_head,
)
from recfair.metrics.evaluate import (
    PER_USER_METRICS,
    Evaluation,
    MetricContext,
    MetricSpec,
    evaluate,
    register_metric,
)
from recfair.metrics.ranking import (
    hit_matrix,
    hit_rate,
    lists_at_k,
    map_at_k,
    mrr,
    ndcg,
    position_weights,
    precision,
    recall,
    relevant_counts,
)
from recfair.metrics.rating import mae, per_user_errors, rmse

__all__ = [
    "PER_USER_METRICS",
    "TIERS",
    "Evaluation",
    "MetricContext",
    "MetricSpec",
    "aclt",
    "aplt",
    "arp",
    "catalog_coverage",
    "evaluate",
    "exposure_gini",
    "genre_matrix",
    "gini",
    "hit_matrix",
    "hit_rate",
    "intra_list_diversity",
    "item_exposure",
    "js_divergence",
    "list_matrix",
    "lists_at_k",
    "mae",
    "map_at_k",
    "miscalibration",
    "mrr",
    "ndcg",
    "novelty",
    "per_user_errors",
    "popularity_calibration",
    "popularity_tiers",
    "position_weights",
    "precision",
    "recall",
    "register_metric",
    "relevant_counts",
    "rmse",
    "short_head",
]
