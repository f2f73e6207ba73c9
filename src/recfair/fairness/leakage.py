"""Attribute leakage: how well a user attribute can be predicted from what a model exposes.

A logistic regression (scikit-learn) is trained to predict a sensitive user
attribute from user representations — learned embeddings, or the multi-hot
vector of the user's top-k list — with seeded, stratified 5-fold
cross-validation.  Binary attributes report the mean ROC AUC over folds (0.5 =
no leakage); multi-class attributes the mean macro-F1 (chance ≈ 1 / n_classes,
the expected macro-F1 of guessing with the class frequencies).  Dense features
are standardised inside each fold; sparse multi-hot features are used as they
are.  Classes with fewer members than folds are dropped (logged and counted).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from recfair.errors import RecfairError, check_positive_int
from recfair.fairness.groups import GroupSpec, parse_groups
from recfair.metrics.beyond import list_matrix
from recfair.recommendations import Recommendations

__all__ = ["LeakageResult", "attribute_leakage", "leakage_from_embeddings", "leakage_from_recs", "multi_hot"]

log = logging.getLogger(__name__)

TOO_FEW_CLASSES = (
    "Cannot measure leakage of '{groups}': after dropping classes with fewer than {n_splits} users, "
    "{n} class(es) remain; at least 2 are needed."
)
BAD_FEATURES = "features must be a 2-d array with one row per label ({n}); got shape {shape}."


@dataclass(frozen=True)
class LeakageResult:
    """Cross-validated predictability of one attribute.

    Attributes
    ----------
    attribute, metric:
        What was predicted and how it is scored (``'auc'`` or ``'macro_f1'``).
    value, std:
        Mean and population std over folds.
    folds:
        Per-fold scores.
    chance:
        Score of a predictor that ignores the features (0.5 AUC, 1/n_classes macro-F1).
    n, n_dropped:
        Users used; users left out (missing attribute or too-rare class).
    classes:
        Class labels used.
    """

    attribute: str
    metric: str
    value: float
    std: float
    folds: tuple[float, ...]
    chance: float
    n: int
    n_dropped: int
    classes: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready dict of all fields (``folds`` and ``classes`` as lists)."""
        d = asdict(self)
        d["folds"], d["classes"] = list(self.folds), list(self.classes)
        return d


def multi_hot(recs: Recommendations, n_items: int, k: int) -> sp.csr_matrix:
    """``(len(recs), n_items)`` binary CSR matrix of each user's top-``k`` items."""
    return list_matrix(recs, n_items, check_positive_int(k, "k", "multi_hot"))


def attribute_leakage(
    features,
    labels,
    *,
    groups: str = "groups",
    n_splits: int = 5,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
) -> LeakageResult:
    """Cross-validated AUC (binary) or macro-F1 (multi-class) of a logistic regression.

    Parameters
    ----------
    features : (n, d) array or sparse matrix
    labels : (n,) array
        Class labels; ``None`` / ``nan`` / ``''`` rows are dropped.
    groups : str
        Name of the user grouping the labels come from (the result's ``attribute``).
    n_splits : int
        Folds of the seeded :class:`~sklearn.model_selection.StratifiedKFold`.
    seed : int
    C, max_iter :
        Logistic-regression inverse regularisation and iteration limit.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> x = y[:, None] + rng.normal(size=(200, 3))
    >>> attribute_leakage(x, y, groups="toy").value > 0.7
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    n_splits = check_positive_int(n_splits, "n_splits", "attribute_leakage")
    lab = np.asarray(labels, dtype=object)
    x = features if sp.issparse(features) else np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != lab.shape[0]:
        raise RecfairError(BAD_FEATURES.format(n=lab.shape[0], shape=x.shape))
    present = np.array([not (v is None or v == "" or (isinstance(v, float) and np.isnan(v))) for v in lab], bool)
    strs = np.array([str(v) for v in lab], dtype=object)
    classes, counts = np.unique(strs[present], return_counts=True)
    keep_cls = classes[counts >= n_splits]
    keep = present & np.isin(strs, keep_cls)
    if keep_cls.size < 2:
        raise RecfairError(TOO_FEW_CLASSES.format(groups=groups, n_splits=n_splits, n=keep_cls.size))
    if (present & ~keep).any():
        log.info("leakage of %s: dropped %d users of classes with < %d members", groups,
                 int((present & ~keep).sum()), n_splits)
    y = np.searchsorted(keep_cls, strs[keep])
    xk = x[np.flatnonzero(keep)]
    binary = keep_cls.size == 2
    folds = []
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for tr, te in skf.split(np.zeros(len(y)), y):
        x_tr, x_te = xk[tr], xk[te]
        if not sp.issparse(xk):
            scaler = StandardScaler().fit(x_tr)
            x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(x_tr, y[tr])
        if binary:
            folds.append(float(roc_auc_score(y[te], clf.predict_proba(x_te)[:, 1])))
        else:
            folds.append(float(f1_score(y[te], clf.predict(x_te), average="macro")))
    f = np.asarray(folds)
    return LeakageResult(
        attribute=groups, metric="auc" if binary else "macro_f1", value=float(f.mean()),
        std=float(f.std(ddof=0)), folds=tuple(folds), chance=0.5 if binary else 1.0 / keep_cls.size,
        n=int(keep.sum()), n_dropped=int((~keep).sum()), classes=tuple(str(c) for c in keep_cls),
    )


def _labels(dataset, users: np.ndarray, groups) -> tuple[str, np.ndarray]:
    spec = groups if isinstance(groups, GroupSpec) else parse_groups(groups)[0]
    grouping = spec.assign(dataset, "user")
    codes = grouping.codes[users]
    labels = np.array([grouping.labels[c] if c >= 0 else None for c in codes], dtype=object)
    return grouping.attribute, labels


def leakage_from_recs(recs: Recommendations, dataset, groups="gender", *, k: int = 10, **kwargs) -> LeakageResult:
    """Leakage of a user grouping (a :func:`parse_groups` spec such as ``'gender'`` or ``'age'``)
    from the multi-hot top-``k`` lists in ``recs``; ``dataset`` gives the user table (and,
    for ``activity``, the training counts)."""
    name, labels = _labels(dataset, recs.users.astype(np.int64), groups)
    return attribute_leakage(multi_hot(recs, dataset.n_items, k), labels, groups=name, **kwargs)


def leakage_from_embeddings(embeddings, dataset, groups="gender", *, users=None, **kwargs) -> LeakageResult:
    """Leakage of a user grouping from user embeddings ``(n, d)``; row ``i`` is user ``users[i]``
    (default: rows are user indices ``0..n-1``)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    users = np.arange(emb.shape[0]) if users is None else np.asarray(users, dtype=np.int64)
    name, labels = _labels(dataset, users, groups)
    return attribute_leakage(emb, labels, groups=name, **kwargs)
