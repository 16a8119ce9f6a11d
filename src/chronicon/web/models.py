"""Response bodies of the REST API (pydantic models, so /openapi.json describes them) and the error shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chronicon.schemas import SCHEMA_VERSION


class ErrorBody(BaseModel):
    """Every error: a message and the HTTP status code."""

    error: str
    status: int


class Stack(BaseModel):
    """The stack a result stands for (RAW + JPEG pair, burst, Live Photo): shown once, by its cover."""

    kind: str
    label: str
    cover: str
    size: int
    members: list[str]
    via: str | None = None  # the member whose match this is (None: the cover's own)


class Hit(BaseModel):
    """One search or browse result: `SearchHit.to_json()` plus the URLs of its thumbnail and file."""

    model_config = ConfigDict(extra="allow")

    id: str
    path: str
    kind: str
    rank: int
    score: float | None = None
    why: list[str] = Field(default_factory=list)
    t: float | None = None  # the moment inside a video: the best-matching frame of the shot
    t_start: float | None = None
    t_end: float | None = None
    segment: int = 0
    weak: bool = False  # below the relevance cutoff (listed only with all=true)
    stack: Stack | None = None
    thumbnail_url: str | None = None
    media_url: str


class SearchResults(BaseModel):
    schema_version: int = SCHEMA_VERSION
    query: str | None
    seconds: float
    space: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    hidden: int = 0  # weak matches the relevance cutoff left out (all=true lists them)
    cutoff: dict[str, Any] | None = None
    results: list[Hit]


class BrowseResults(BaseModel):
    schema_version: int = SCHEMA_VERSION
    offset: int
    limit: int
    results: list[Hit]


class TranscriptSegment(BaseModel):
    model_config = ConfigDict(extra="allow")

    start: float
    end: float
    text: str


class Transcript(BaseModel):
    id: str
    around: float | None
    language: str | None = None
    segments: list[TranscriptSegment]


class Asset(BaseModel):
    """An asset's catalog row without internals (hashes, pass bookkeeping), JSON fields decoded."""

    model_config = ConfigDict(extra="allow")

    id: str
    path: str
    kind: str | None
    thumbnail_url: str | None = None
    media_url: str
    stack: AssetStack | None = None


class StackMember(BaseModel):
    id: str
    path: str
    kind: str | None
    cover: bool


class AssetStack(BaseModel):
    """The stack an asset is in (RAW + JPEG pair, burst, Live Photo), with every present member."""

    kind: str
    label: str
    cover: str
    size: int
    members: list[StackMember]
    via: str | None = None


class VectorSpaceStats(BaseModel):
    """One vector space's table: rows, dimension, index kind (None before the first index) and version."""

    model_config = ConfigDict(extra="allow")
    space: str
    table: str
    rows: int
    dim: int
    index: str | None
    unindexed_rows: int | None = None
    version: int


class Stats(BaseModel):
    """What the catalog holds (the same fields as `chronicon stats --json`)."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = SCHEMA_VERSION
    catalog: str
    catalog_schema_version: int
    assets: int
    by_kind: dict[str, int]
    by_status: dict[str, int]
    missing: int
    bytes: int
    video_seconds: float
    table_version: int
    vectors: dict[str, VectorSpaceStats]


class ScanStatus(BaseModel):
    scanning: bool
    assets: int
    table_version: int | None
    last_update: str | None = None


class FilterInfo(BaseModel):
    name: str
    help: str
    type: str


class SpaceInfo(BaseModel):
    """A vector space searches can use here: `kind` is what `space=` takes, `space` its catalog table."""

    kind: str
    space: str
    help: str


class Meta(BaseModel):
    version: str
    filters: list[FilterInfo]
    sort_keys: dict[str, str]
    spaces: list[str]  # the catalog's vector tables
    search_spaces: list[SpaceInfo]  # the ones a search can pick, best first (contributed by passes)
    albums: bool
    token_required: bool


# What each error status means, in the OpenAPI spec (route `responses=` and the ones added to every API route).
STATUS_TEXT = {
    400: "Bad filter, query, parameter or upload",
    401: "Missing or wrong token",
    403: "The file lies outside the catalog's roots, or the request comes from another site (Origin)",
    404: "Unknown asset, route or file",
    409: "Conflict (a scan holds the catalog)",
    413: "The upload is too large (bytes, or pixels declared in its header)",
    416: "Bad range",
    503: "Nothing to search yet (no vectors), the server is busy decoding uploads, or the catalog cannot be written",
    507: "The catalog's disk is full",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: these error codes, each with the ErrorBody schema."""
    return {code: {"model": ErrorBody, "description": STATUS_TEXT[code]} for code in codes}
