"""Answer one recommendation request against a :class:`~recfair.serve.source.ServedModel`.

Raw ids come in and go out; indices stay inside.  A known user is scored by the
model (training items and ``exclude`` masked); a new user goes through the
model's ``recommend_new_users`` (profile fields and a history of raw ids or
titles).  With ``rerank`` the model lists ``n_candidates`` items and the
re-ranker, built through the mitigation registry from its typed config, picks
``k``; the amortized-exposure re-ranker continues the server's
:class:`~recfair.serve.ledger.ExposureLedger`.  Every refusal is a
:class:`ServeError` carrying its HTTP status and a message naming the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfair.errors import RecfairError
from recfair.recommendations import PAD, Recommendations, rank_scores
from recfair.serve.schemas import Item, RecommendRequest, RecommendResponse, RerankSpec

__all__ = [
    "JOINT_RERANKERS", "NEEDS_KNOWN_USER", "NOT_PER_REQUEST", "NO_NEW_USERS", "ServeError", "UNKNOWN_HISTORY",
    "UNKNOWN_ITEM", "UNKNOWN_METHOD", "UNKNOWN_RERANK_PARAM", "UNKNOWN_USER", "build_reranker", "examples",
    "item_indices", "recommend",
    "served_rerankers", "warm_up",
]

UNKNOWN_USER = "Unknown user_id {user_id!r}: not a user of the served data set ({n} users, e.g. {examples})."
UNKNOWN_ITEM = "Unknown item id {item_id!r} in {field}: not an item of the served data set ({n} items, e.g. {examples})."
UNKNOWN_HISTORY = "history[{i}] = {value!r} is neither a raw item id nor a catalogue title."
NO_NEW_USERS = ("The served model '{model}' cannot recommend for new users (profile / history); send a known "
                "'user_id', or serve a model that can: {models}.")
UNKNOWN_METHOD = "Unknown re-ranker '{method}'. Choose one of: {choices}."
NOT_PER_REQUEST = ("Re-ranker '{method}' re-ranks a population of users jointly and cannot run per request. "
                   "Choose one of: {choices}.")
UNKNOWN_RERANK_PARAM = "Unknown parameter '{key}' for re-ranker '{method}'. Valid parameters: {valid}."
NEEDS_KNOWN_USER = "Re-ranker '{method}' needs the user's training history; use it with a known 'user_id'."
#: Re-rankers that need many users at once (not servable per request).
JOINT_RERANKERS = ("ugf",)
#: Keys of a JSON ``rerank`` object that spell a Python parameter differently.
JSON_KEYS = {"lambda": "lambda_"}
#: Re-rankers that read the user's own training history.
USER_RERANKERS = ("calibrated",)


class ServeError(RecfairError):
    """A request the server refuses; ``status`` is the HTTP status (404, 422…)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def served_rerankers() -> list[str]:
    """Registered re-rankers a request may name, in registry order."""
    from recfair.mitigation.registry import mitigation_names

    return [n for n in mitigation_names("reranker") if n not in JOINT_RERANKERS]


def build_reranker(spec: RerankSpec, served: Any = None) -> tuple[str, Any]:
    """``(registry name, re-ranker)`` from a request's ``rerank`` object, every parameter type-checked.

    With ``served``, item groups already computed for it are handed to the
    re-rankers that accept them (not recomputed per request).
    """
    from recfair.mitigation.registry import create_reranker, get_mitigation_class, resolve_mitigation_name

    choices = ", ".join(served_rerankers())
    try:
        name = resolve_mitigation_name("reranker", spec.method)
    except RecfairError as exc:
        raise ServeError(UNKNOWN_METHOD.format(method=spec.method, choices=choices)) from exc
    if name in JOINT_RERANKERS:
        raise ServeError(NOT_PER_REQUEST.format(method=name, choices=choices))
    fields = get_mitigation_class("reranker", name).Config.model_fields
    params = {}
    for key, value in spec.params().items():
        key = JSON_KEYS.get(key, key)
        if key not in fields:
            valid = ", ".join(k.rstrip("_") if k in JSON_KEYS.values() else k for k in fields)
            raise ServeError(UNKNOWN_RERANK_PARAM.format(key=key, method=name, valid=valid))
        params[key] = value
    try:
        reranker = create_reranker(name, **params)
    except RecfairError as exc:
        raise ServeError(str(exc)) from exc
    if served is not None:
        _precomputed(name, reranker, served)
    return name, reranker


def _precomputed(name: str, reranker: Any, served: Any) -> None:
    """Hand the served model's cached popularity groups to re-rankers that take them as data."""
    if name == "fair" and reranker.item_groups == "popularity":
        codes, names = served.item_groups["popularity"]
        reranker.item_mask = codes == names.index("tail")  # the same protected items, not recomputed
    elif name == "amortized":
        reranker.item_codes = served.item_groups[reranker.item_groups]


def warm_up() -> None:
    """Pay one-time costs at start-up instead of on the first re-ranked request.

    FA*IR's minimum-count table needs ``scipy.stats``, whose first import takes about a
    second: paid inside a request it stalls every request queued behind it.
    """
    from recfair.mitigation.registry import create_reranker

    create_reranker("fair").minimum_counts(10)


def examples(ids: np.ndarray) -> str:
    """The first three ids, quoted, for error messages."""
    return ", ".join(repr(str(x)) for x in ids[:3])


def item_indices(served: Any, raw: list[str], field: str) -> np.ndarray:
    """Indices of raw item ids (422 naming the first unknown one)."""
    out = np.empty(len(raw), dtype=np.int64)
    for i, r in enumerate(raw):
        j = served.item_index.get(r)
        if j is None:
            raise ServeError(UNKNOWN_ITEM.format(item_id=r, field=field, n=len(served.item_ids),
                                                 examples=examples(served.item_ids)))
        out[i] = j
    return out


def _history(served: Any, history: list[str]) -> np.ndarray:
    """A new user's history (raw ids or titles) as item indices."""
    out = []
    for i, value in enumerate(history):
        j = served.item_index.get(value)
        if j is None:
            j = served.matcher.match(value)
        if j is None:
            raise ServeError(UNKNOWN_HISTORY.format(i=i, value=value))
        out.append(int(j))
    return np.asarray(out, dtype=np.int64)


def _known_user(served: Any, user_id: str, n: int, allowed: np.ndarray | None) -> Recommendations:
    model = served.model
    u = served.user_index.get(user_id)
    if u is None or u >= model.n_users_:
        raise ServeError(UNKNOWN_USER.format(user_id=user_id, n=len(served.user_ids),
                                             examples=examples(served.user_ids)), status=404)
    users = np.array([u], dtype=np.int64)
    seen = model.seen_
    history = seen.indices[seen.indptr[u]: seen.indptr[u + 1]]  # one row: cheaper than slicing the matrix
    return rank_scores(users, model.score(users), n, seen=[history], allowed=allowed)


def _new_user(served: Any, req: RecommendRequest, n: int, allowed: np.ndarray | None) -> Recommendations:
    from recfair.models.registry import MODELS, get_model_class

    model = served.model
    if not served.describe()["new_users"]:
        able = [m for m in sorted(MODELS) if getattr(get_model_class(m), "supports_cold_users", False)
                and hasattr(get_model_class(m), "recommend_new_users")]
        raise ServeError(NO_NEW_USERS.format(model=model.name, models=", ".join(able)))
    history = _history(served, req.history or [])
    candidates = None if allowed is None else np.flatnonzero(allowed)
    try:
        return model.recommend_new_users([dict(req.profile or {})], [history], k=n, candidates=candidates)
    except RecfairError as exc:
        raise ServeError(str(exc)) from exc


def recommend(served: Any, req: RecommendRequest, ledger: Any, n_candidates: int) -> RecommendResponse:
    """The response to one request (see the module docs); raises :class:`ServeError`."""
    method, reranker = build_reranker(req.rerank, served) if req.rerank is not None else (None, None)
    if method in USER_RERANKERS and req.user_id is None:
        raise ServeError(NEEDS_KNOWN_USER.format(method=method))
    allowed = None
    if req.exclude:
        allowed = np.ones(len(served.item_ids), dtype=bool)
        allowed[item_indices(served, req.exclude, "exclude")] = False
    n = req.k if reranker is None else max(req.k, n_candidates)
    if req.user_id is not None:
        recs = _known_user(served, req.user_id, n, allowed)
    else:
        recs = _new_user(served, req, n, allowed)
    if reranker is not None:
        try:
            if method == "amortized":
                recs = ledger.rerank(reranker, recs, served.train, req.k)
            else:
                recs = reranker.rerank(recs, served.train, req.k)
        except RecfairError as exc:
            raise ServeError(str(exc)) from exc
    return RecommendResponse(items=_items(served, recs), rerank=method, user_id=req.user_id, model=served.version)


def _items(served: Any, recs: Recommendations) -> list[Item]:
    out = []
    for j, s in zip(recs.items[0].tolist(), recs.scores[0].tolist()):
        if j == PAD:
            continue
        out.append(Item(item_id=str(served.item_ids[j]), title=served.titles[j],
                        score=float(s) if np.isfinite(s) else None))
    return out
