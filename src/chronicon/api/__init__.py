"""The public API for plugins: everything a plugin in `plugins/` (or a third party's) may import, from one place.

The bundled plugins in `plugins/` use only these names (tests/test_architecture.py keeps them to it); the built-in
passes, which sit below this layer, use the same classes from their home modules. These are the names kept stable;
anything else in `chronicon.*` may change without notice."""

from __future__ import annotations

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AnalyzerContext, AssetItem, Outcome, PerItemAnalyzer
from chronicon.analyzers.inputs import (
    SegmentPicture,
    center_crop_array,
    picture,
    segment_pictures,
    square_array,
    stored_segments,
)
from chronicon.analyzers.spaces import RankedHit, SpaceEncoder, TextEmbedder, TextList, VectorSpace
from chronicon.analyzers.stacks import StackKind
from chronicon.api.cli import (
    EXIT_CANNOT_RUN,
    EXIT_FAILED_FILES,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    AppState,
    CannotRun,
    UsageError,
    fail,
    json_default,
    print_json,
)
from chronicon.api.web import storage_message, storage_status
from chronicon.catalog.faults import guard
from chronicon.catalog.lock import ScanLock
from chronicon.catalog.store import Catalog, display_path, fs_path
from chronicon.catalog.tables import Column, PluginTable, Where, chunked, col
from chronicon.catalog.vectors import VectorHit, VectorRow, VectorTable, is_pixel_space
from chronicon.config import Section, Setting
from chronicon.errors import (
    CatalogDamagedError,
    CatalogError,
    CatalogLockedError,
    CatalogStorageError,
    ChroniconError,
    ConfigError,
    MediaError,
    ModelUnavailableError,
    PluginError,
    QueryError,
)
from chronicon.events import AssetEvent
from chronicon.hookspecs import hookimpl
from chronicon.library import Library
from chronicon.media.imaging import write_thumbnail
from chronicon.media.photo import open_image, register_heif
from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes, sniff_file
from chronicon.media.timecode import clock
from chronicon.media.video import read_poster_frame
from chronicon.scan.summary import ScanSummary
from chronicon.search.engine import SearchHit, SearchResults
from chronicon.search.extensions import ExtensionError, SearchFilter, SortKey
from chronicon.search.filters import FilterError, Filters, parse_day, parse_gps_box
from chronicon.search.neighbors import NeighborIndex, Pairs, cosine_radius, self_join
from chronicon.types import Change, MediaKind, Phase

__all__ = [
    "EXIT_CANNOT_RUN", "EXIT_FAILED_FILES", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "SNIFF_BYTES", "VECTORS_KEY",
    "Analyzer", "AnalyzerContext", "AppState", "AssetEvent", "AssetItem", "CannotRun", "Catalog",
    "CatalogDamagedError", "CatalogError", "CatalogLockedError", "CatalogStorageError", "Change", "ChroniconError",
    "Column", "ConfigError", "ExtensionError", "FilterError", "Filters", "Library", "MediaError", "MediaKind",
    "ModelUnavailableError", "NeighborIndex", "Outcome", "Pairs", "PerItemAnalyzer", "Phase", "PluginError",
    "PluginTable", "QueryError",
    "RankedHit", "ScanLock", "ScanSummary", "SearchFilter", "SearchHit", "SearchResults", "Section", "SegmentPicture",
    "Setting", "SortKey", "SpaceEncoder", "StackKind", "TextEmbedder", "TextList", "UsageError", "VectorHit",
    "VectorRow", "VectorSpace", "VectorTable", "Where", "center_crop_array", "chunked", "clock", "col", "cosine_radius",
    "display_path", "fail", "fs_path", "guard", "hookimpl", "is_pixel_space", "json_default", "open_image",
    "parse_day", "parse_gps_box", "picture", "print_json", "read_poster_frame", "register_heif", "segment_pictures",
    "self_join", "sniff_bytes", "sniff_file", "square_array", "storage_message", "storage_status", "stored_segments",
    "write_thumbnail",
]  # fmt: skip
