"""Request and response bodies of the REST service (pydantic; they generate the OpenAPI schema).

Every id is the data set's *raw* id, as a string.  Limits are module constants so
the schema, the docs and the tests agree on them.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BatchRequest", "BatchResponse", "ExposureState", "Item", "ItemInfo", "MAX_BATCH", "MAX_BODY_BYTES",
    "MAX_EXCLUDE", "MAX_HISTORY", "MAX_K", "MAX_PROFILE_FIELDS", "ONE_USER", "RecommendRequest",
    "RecommendResponse", "ReloadRequest", "RerankSpec", "UserInfo",
]

#: Longest list a request may ask for.
MAX_K = 100
#: Most requests in one ``/recommend/batch`` call.
MAX_BATCH = 64
#: Most ids in ``exclude`` and in ``history``.
MAX_EXCLUDE = 1000
MAX_HISTORY = 500
MAX_PROFILE_FIELDS = 16
#: Largest request body accepted (bytes); larger bodies get 413.
MAX_BODY_BYTES = 256 * 1024

ONE_USER = ("Give either 'user_id' (a known user) or 'profile' and/or 'history' (a new user), not both; "
            "got {given}.")

ProfileValue = Union[Annotated[str, Field(max_length=256)], int, float]
RawId = Annotated[str, Field(min_length=1, max_length=128)]
IdOrTitle = Annotated[str, Field(min_length=1, max_length=256)]


class Strict(BaseModel):
    """Unknown keys are errors (422 naming the key)."""

    model_config = ConfigDict(extra="forbid")


class RerankSpec(BaseModel):
    """``{"method": NAME, ...parameters}``: a registered re-ranker and its typed parameters.

    Parameters are checked against the re-ranker's own config (``lambda`` may be
    written for ``lambda_``); an unknown method or parameter is a 422 listing the valid ones.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    method: str = Field(min_length=1, max_length=64, description="registered re-ranker, e.g. 'prefix' or 'amortized'")

    def params(self) -> dict[str, Any]:
        """The parameters (every key but ``method``)."""
        return dict(self.model_extra or {})


class RecommendRequest(Strict):
    """One list: for a known ``user_id``, or for a new user given ``profile`` and/or ``history``."""

    user_id: Optional[RawId] = Field(None, description="raw id of a known user")
    profile: Optional[dict[Annotated[str, Field(max_length=64)], ProfileValue]] = Field(
        None, max_length=MAX_PROFILE_FIELDS, description="new user's profile fields, e.g. {'gender': 'F', 'age': 25}")
    history: Optional[list[IdOrTitle]] = Field(
        None, max_length=MAX_HISTORY, description="new user's items, oldest first: raw item ids or titles")
    k: int = Field(10, ge=1, le=MAX_K, description="list length")
    exclude: list[RawId] = Field(default_factory=list, max_length=MAX_EXCLUDE, description="raw item ids never listed")
    rerank: Optional[RerankSpec] = Field(None, description="optional re-ranker: {'method': NAME, ...parameters}")

    @model_validator(mode="after")
    def _one_kind_of_user(self) -> "RecommendRequest":
        new = self.profile is not None or self.history is not None
        if (self.user_id is None) == (not new):
            given = [k for k in ("user_id", "profile", "history") if getattr(self, k) is not None]
            raise ValueError(ONE_USER.format(given=", ".join(given) or "none of them"))
        return self


class Item(Strict):
    """One recommended item."""

    item_id: str
    title: Optional[str] = None
    score: Optional[float] = Field(None, description="the model's score (before any re-ranking)")


class RecommendResponse(Strict):
    """A ranked list, best first, and which re-ranker (if any) ran."""

    items: list[Item]
    rerank: Optional[str] = Field(None, description="the re-ranker that ran, or null")
    user_id: Optional[str] = None
    model: str = Field(description="version of the served model")


class BatchRequest(Strict):
    """Several ``/recommend`` requests answered together (at most :data:`MAX_BATCH`)."""

    requests: list[RecommendRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResponse(Strict):
    """One response per request, in order."""

    results: list[RecommendResponse]


class ItemInfo(Strict):
    """A catalogue item: title, attributes, training popularity and popularity groups."""

    item_id: str
    title: Optional[str] = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    interactions: int = Field(description="training interactions")
    groups: dict[str, str] = Field(description="popularity group per item grouping (popularity, tiers)")


class UserInfo(Strict):
    """A known user: profile fields and training activity."""

    user_id: str
    profile: dict[str, Any] = Field(default_factory=dict)
    interactions: int = Field(description="training interactions")


class ReloadRequest(Strict):
    """Serve another cell of the same study (or re-open the same run folder when omitted)."""

    cell: Optional[str] = Field(None, min_length=1, max_length=128)


class ExposureState(Strict):
    """Cumulative attention per item group kept by the amortized-exposure re-ranker."""

    item_groups: str
    exposure: dict[str, float]
    shares: dict[str, float]
    lists: int
