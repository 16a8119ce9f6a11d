"""Table schemas of the catalog, its schema version, and the step-by-step migrations between versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

# Bump when a table's shape changes, and add a migration to MIGRATIONS that brings version N-1 to N.
SCHEMA_VERSION = 3

ASSETS_TABLE = "assets"
META_TABLE = "meta"

_TS = pa.timestamp("us", tz="UTC")

# Identity, file state and scan bookkeeping.
_CORE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),  # absolute; names that are not UTF-8 are shown escaped
    pa.field("path_raw", pa.binary()),  # the exact bytes of the path when it is not valid UTF-8
    pa.field("root", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("format", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("mtime_ns", pa.int64()),
    pa.field("content_hash", pa.string()),
    pa.field("status", pa.string()),  # AssetStatus
    pa.field("error", pa.string()),  # "<pass>: <reason>" lines of the passes that failed
    pa.field("error_kind", pa.string()),  # ErrorKind of the first failure
    pa.field("phases", pa.string()),  # JSON {pass: {"version", "status", "error", "at"}}
    pa.field("pass_signature", pa.string()),  # name@version of every pass run; equal = nothing to do
    # The file's sidecars as the scan saw them, "name:size:mtime_ns" lines (null: none); a change re-runs the
    # passes that read sidecars, and only those.
    pa.field("sidecars", pa.string()),
    pa.field("missing", pa.bool_()),
    pa.field("missing_since", _TS),
    pa.field("first_seen", _TS),
    pa.field("updated_at", _TS),
]

# Filled by the built-in metadata pass (photos: EXIF; videos: container and streams).
METADATA_FIELDS = [
    pa.field("width", pa.int64()),
    pa.field("height", pa.int64()),
    pa.field("orientation", pa.int64()),
    pa.field("taken_at", pa.string()),  # ISO 8601 local time, with its UTC offset when known (docs/dates.md)
    pa.field("taken_at_source", pa.string()),  # the tag it came from: "exif DateTimeOriginal", "gps", ...
    pa.field("taken_at_offset", pa.string()),  # how the offset was known: file, gps time, place, utc; null
    pa.field("camera_make", pa.string()),
    pa.field("camera_model", pa.string()),
    pa.field("lens", pa.string()),
    pa.field("iso", pa.int64()),
    pa.field("f_number", pa.float64()),
    pa.field("exposure_time", pa.float64()),
    pa.field("focal_length", pa.float64()),
    pa.field("gps_lat", pa.float64()),
    pa.field("gps_lon", pa.float64()),
    pa.field("gps_alt", pa.float64()),
    pa.field("duration", pa.float64()),
    pa.field("fps", pa.float64()),
    pa.field("rotation", pa.int64()),
    pa.field("video_codec", pa.string()),
    pa.field("audio_codec", pa.string()),
    pa.field("bitrate", pa.int64()),
    pa.field("has_audio", pa.bool_()),
]

# Filled by the built-in content pass.
CONTENT_FIELDS = [
    pa.field("phash", pa.string()),  # 64-bit DCT perceptual hash as 16 hex digits
    pa.field("colors", pa.list_(pa.string())),  # dominant colours "#rrggbb", largest share first
    pa.field("color_shares", pa.list_(pa.float64())),
    pa.field("sharpness", pa.float64()),  # variance of the Laplacian on a <=512 px copy
    pa.field("brightness", pa.float64()),  # mean luma, 0..1
    pa.field("thumbnail", pa.string()),  # path relative to the catalog folder
]

ASSETS_SCHEMA = pa.schema(_CORE_FIELDS + METADATA_FIELDS + CONTENT_FIELDS)

META_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.string())])

# Columns the scanner reads for every asset to diff the disk against the catalog (kept small on purpose).
INDEX_COLUMNS = [
    "id",
    "path",
    "path_raw",
    "kind",
    "size",
    "mtime_ns",
    "content_hash",
    "status",
    "error_kind",
    "pass_signature",
    "sidecars",
    "missing",
    "missing_since",
]


def empty_row(schema: pa.Schema = ASSETS_SCHEMA) -> dict[str, Any]:
    """A row with every column of the schema set to null."""
    return dict.fromkeys(schema.names)


# MIGRATIONS[n] brings a catalog from version n-1 to n. Each takes the open LanceDB connection.
# Example for the day `segments` arrives:
#   2: _create_segments_table  # why: video shots and photos get their own embeddings rows
Migration = Callable[[Any], None]


def _add_sidecars_column(db: Any) -> None:
    """Version 2: the `sidecars` column (XMP sidecars' size and mtime per asset); null = none seen yet."""
    result = db.list_tables()
    names = {str(n) for n in getattr(result, "tables", result)}
    if ASSETS_TABLE not in names:
        return
    table = db.open_table(ASSETS_TABLE)
    if "sidecars" not in table.schema.names:
        table.add_columns([pa.field("sidecars", pa.string())])


def _add_taken_at_source_columns(db: Any) -> None:
    """Version 3: `taken_at_source` and `taken_at_offset` (where the capture time came from); null until the
    metadata pass (version 2) re-reads each asset's dates on the next scan."""
    result = db.list_tables()
    names = {str(n) for n in getattr(result, "tables", result)}
    if ASSETS_TABLE not in names:
        return
    table = db.open_table(ASSETS_TABLE)
    new = [
        pa.field(name, pa.string()) for name in ("taken_at_source", "taken_at_offset") if name not in table.schema.names
    ]
    if new:
        table.add_columns(new)


MIGRATIONS: dict[int, Migration] = {2: _add_sidecars_column, 3: _add_taken_at_source_columns}
