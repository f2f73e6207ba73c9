"""The FastAPI application over one served model (:func:`create_app`).

Routes (raw ids as strings everywhere)::

    POST /recommend                 one list (known user, or new user with profile / history)
    POST /recommend/batch           up to MAX_BATCH lists
    GET  /items/{item_id}           a catalogue item
    GET  /users/{user_id}           a known user
    GET  /audit                     the stored audit of the served cell or run
    GET  /health  /ready  /metrics  liveness, readiness, Prometheus text
    POST /admin/reload              serve another cell (atomic swap; a failed load keeps the old model)
    GET  /admin/exposure            the amortized-exposure state
    POST /admin/exposure/reset      clear it

The model is loaded once and shared read-only; a request takes the current
model once and finishes on it, so a reload never changes a list half-way.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Literal, Optional, Union

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from recfair.errors import RecfairError
from recfair.serve.engine import ServeError, recommend, warm_up
from recfair.serve.guard import BearerAuth, BodyLimit, Metered
from recfair.serve.ledger import LEDGER_FILE, ExposureLedger
from recfair.serve.observe import CONTENT_TYPE, RequestMetrics, exposition
from recfair.serve.schemas import (
    MAX_BODY_BYTES, BatchRequest, BatchResponse, ExposureState, ItemInfo, RecommendRequest, RecommendResponse,
    ReloadRequest, UserInfo,
)
from recfair.serve.source import ServedModel, open_served, records

__all__ = ["NO_AUDIT", "ServeSettings", "ServerState", "UNKNOWN_ITEM_ID", "create_app"]

NO_AUDIT = "No audit is stored for {name}; run `recfair audit` on the run folder (study cells always have one)."
UNKNOWN_ITEM_ID = "Unknown item id {item_id!r}: not an item of the served data set."


class ErrorBody(BaseModel):
    """Every 4xx answer: ``detail`` is a message, or pydantic's list of field errors."""

    detail: Union[str, list[dict[str, Any]]]


ERRORS: dict[Union[int, str], dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422)}


@dataclass
class ServeSettings:
    """How the server runs (the command line fills it)."""

    api_key: Optional[str] = None
    n_candidates: int = 100
    max_body_bytes: int = MAX_BODY_BYTES
    state_dir: Optional[Path] = None
    flush_seconds: float = 1.0
    runtime: Any = None


class ServerState:
    """The served model (swapped atomically on reload), the exposure ledger and the metrics."""

    def __init__(self, served: ServedModel, settings: ServeSettings,
                 opener: Callable[..., ServedModel] = open_served) -> None:
        self.served = served
        self.settings = settings
        self.opener = opener
        path = None if settings.state_dir is None else Path(settings.state_dir) / LEDGER_FILE
        self.ledger = ExposureLedger(path, settings.flush_seconds)
        self.metrics = RequestMetrics()
        self._reload_lock = threading.Lock()

    def reload(self, cell: Optional[str]) -> ServedModel:
        """Open ``cell`` (default: the one served) of the same folder, then swap; on failure keep serving."""
        with self._reload_lock:
            old = self.served
            if cell is None and old.source == "cell":
                cell = old.name
            try:
                new = self.opener(old.root, cell, runtime=self.settings.runtime)
            except Exception:
                self.metrics.reloaded(False)
                raise
            self.ledger.flush()
            self.served = new  # one reference assignment: requests hold the model they started with
            self.metrics.reloaded(True)
            return new


def _item_info(served: ServedModel, item_id: str) -> ItemInfo:
    j = served.item_index.get(item_id)
    if j is None:
        raise ServeError(UNKNOWN_ITEM_ID.format(item_id=item_id), status=404)
    attrs = records(served.train.items.iloc[[j]])[0]
    attrs.pop("title", None)
    groups = {name: names[codes[j]] for name, (codes, names) in served.item_groups.items()}
    return ItemInfo(item_id=item_id, title=served.titles[j], attributes=attrs,
                    interactions=int(served.popularity[j]), groups=groups)


def _user_info(served: ServedModel, user_id: str) -> UserInfo:
    from recfair.serve.engine import UNKNOWN_USER, examples

    u = served.user_index.get(user_id)
    if u is None:
        raise ServeError(UNKNOWN_USER.format(user_id=user_id, n=len(served.user_ids),
                                             examples=examples(served.user_ids)), status=404)
    profile = records(served.train.users.iloc[[u]])[0] if len(served.train.users.columns) else {}
    return UserInfo(user_id=user_id, profile=profile, interactions=int(served.train.user_counts[u]))


def _recommend_routes(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.post("/recommend", response_model=RecommendResponse, responses=ERRORS, tags=["recommend"])
    async def recommend_one(body: RecommendRequest) -> RecommendResponse:
        """One ranked list for a known user or a new user, optionally re-ranked."""
        served = state.served
        n = state.settings.n_candidates
        if body.user_id is None:  # new users encode text: keep the event loop free
            return await run_in_threadpool(recommend, served, body, state.ledger, n)
        return recommend(served, body, state.ledger, n)

    @router.post("/recommend/batch", response_model=BatchResponse, responses=ERRORS, tags=["recommend"])
    async def recommend_batch(body: BatchRequest) -> BatchResponse:
        """Several lists at once (all from the same model); the first refused request fails the batch."""
        served = state.served

        def run() -> BatchResponse:
            out = []
            for i, req in enumerate(body.requests):
                try:
                    out.append(recommend(served, req, state.ledger, state.settings.n_candidates))
                except ServeError as exc:
                    raise ServeError(f"requests[{i}]: {exc}", status=exc.status) from exc
            return BatchResponse(results=out)

        return await run_in_threadpool(run)

    @router.get("/items/{item_id}", response_model=ItemInfo, responses=ERRORS, tags=["catalogue"])
    async def item(item_id: str) -> ItemInfo:
        """A catalogue item by raw id."""
        return _item_info(state.served, item_id)

    @router.get("/users/{user_id}", response_model=UserInfo, responses=ERRORS, tags=["catalogue"])
    async def user(user_id: str) -> UserInfo:
        """A known user by raw id."""
        return _user_info(state.served, user_id)

    @router.get("/audit", responses=ERRORS, tags=["catalogue"])
    async def audit() -> dict[str, Any]:
        """The stored fairness audit of the served cell (or run): tables as lists of rows."""
        served = state.served
        found = await run_in_threadpool(served.audit)
        if found is None:
            raise ServeError(NO_AUDIT.format(name=served.name), status=404)
        return found

    return router


def _ops_routes(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers (no token needed)."""
        return {"status": "ok"}

    @router.get("/ready", responses=ERRORS, tags=["operations"])
    async def ready() -> dict[str, Any]:
        """Readiness: the model that answers requests."""
        return {"ready": True, **state.served.describe()}

    @router.get("/metrics", response_class=PlainTextResponse, responses=ERRORS, tags=["operations"])
    async def metrics() -> PlainTextResponse:
        """Prometheus text: requests by route and status, latency, model version, exposure state."""
        text = exposition(state.metrics, state.served.describe(), state.ledger.snapshot())
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    @router.post("/admin/reload", responses=ERRORS, tags=["admin"])
    async def reload(body: ReloadRequest) -> dict[str, Any]:
        """Serve another done cell of the study (or re-open the run); a failed load keeps the old model."""
        served = await run_in_threadpool(state.reload, body.cell)
        return {"reloaded": True, **served.describe()}

    @router.get("/admin/exposure", response_model=list[ExposureState], responses=ERRORS, tags=["admin"])
    async def exposure() -> list[ExposureState]:
        """The amortized-exposure state per item grouping."""
        return [ExposureState(**s) for s in state.ledger.snapshot().values()]

    @router.post("/admin/exposure/reset", responses=ERRORS, tags=["admin"])
    async def reset(item_groups: Optional[Literal["popularity", "tiers"]] = None) -> dict[str, list[str]]:
        """Forget the cumulative exposure (of one item grouping, or all)."""
        return {"reset": state.ledger.reset(item_groups)}

    return router


def create_app(served: ServedModel, settings: ServeSettings | None = None, *,
               opener: Callable[..., ServedModel] = open_served) -> Any:
    """The ASGI app serving ``served`` (FastAPI wrapped in metrics, token and body-size middleware).

    The returned object is an ASGI callable; ``.state`` is the :class:`ServerState`
    and ``.fastapi`` the inner FastAPI app (for its OpenAPI schema).
    """
    settings = settings or ServeSettings()
    state = ServerState(served, settings, opener)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(warm_up)
        state.ledger.start()
        try:
            yield
        finally:
            state.ledger.stop()

    api = FastAPI(title="recfair", version=_version(), lifespan=lifespan,
                  description="Recommendations from a stored recfair model, optionally fairness re-ranked.")
    api.include_router(_recommend_routes(state))
    api.include_router(_ops_routes(state))

    @api.exception_handler(ServeError)
    async def _serve_error(_: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @api.exception_handler(RecfairError)
    async def _recfair_error(_: Request, exc: RecfairError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app: Any = BodyLimit(api, settings.max_body_bytes)
    if settings.api_key:
        app = BearerAuth(app, settings.api_key)
    app = Metered(app, state.metrics)
    app.state, app.fastapi = state, api
    return app


def _version() -> str:
    from recfair import __version__

    return __version__
