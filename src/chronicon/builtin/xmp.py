"""Built-in pass `xmp`: rating, colour label, keywords, title and description from XMP sidecars, embedded XMP and
IPTC."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.spaces import RankedHit, TextList
from chronicon.config import Setting
from chronicon.hookspecs import hookimpl
from chronicon.media.xmp import read_xmp
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "xmp"
log = logging.getLogger(__name__)


class XmpPass(PerItemAnalyzer):
    """Reads `photo.jpg.xmp` / `photo.xmp` next to the file, the XMP packet embedded in a photo (JPEG, HEIC, PNG,
    TIFF, WebP, RAW) and its IPTC records (never writes any of them).

    It re-runs alone when a sidecar is added, edited or removed (the scanner keeps the sidecars' size and mtime
    per asset): the other passes keep their results."""

    name: ClassVar[str] = "xmp"
    version: ClassVar[int] = 2  # 2: XMP embedded in formats other than JPEG, IPTC, people regions
    phase: ClassVar[Phase] = Phase.METADATA
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    reads_sidecars: ClassVar[bool] = True
    columns: ClassVar[dict[str, pa.DataType]] = {
        "xmp_rating": pa.int64(),  # xmp:Rating, -1 (rejected) .. 5
        "xmp_label": pa.string(),  # xmp:Label, the colour label ("Red", ...)
        "xmp_keywords": pa.list_(pa.string()),  # dc:subject
        "xmp_hierarchy": pa.list_(pa.string()),  # lr:hierarchicalSubject, "Places|France|Paris"
        "xmp_title": pa.string(),  # dc:title
        "xmp_description": pa.string(),  # dc:description
        "xmp_people": pa.list_(pa.string()),  # names of tagged people (face regions, PersonInImage)
        "xmp_terms": pa.list_(pa.string()),  # lower-case keywords and every hierarchy level (`--keyword`)
        "xmp_text": pa.string(),  # keywords, title and description, full-text indexed (the search box)
        "xmp_source": pa.string(),  # where the values came from: "sidecar photo.xmp, embedded"
        "xmp_problem": pa.string(),  # XMP that could not be read (left out), one source per line
    }
    settings: ClassVar[dict[str, Setting]] = {
        # Also read the XMP and IPTC embedded in photos (sidecars win where both say something, XMP over IPTC).
        "embedded": Setting("bool", True),
    }

    def fingerprint(self) -> str:
        return f"{self.version}:embedded={self.config.bool('embedded')}"

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        embedded = self.config.bool("embedded") and item.kind == MediaKind.IMAGE
        found = read_xmp(item.path, item.sidecars, embedded=embedded, fmt=item.format)
        for problem in found.problems:
            log.warning("%s: XMP left out: %s", item.path, problem)
        data = found.data
        return {
            "xmp_rating": data.rating,
            "xmp_label": data.label,
            "xmp_keywords": data.keywords or [],
            "xmp_hierarchy": data.hierarchy or [],
            "xmp_title": data.title,
            "xmp_description": data.description,
            "xmp_people": data.people or [],
            "xmp_terms": data.terms(),
            "xmp_text": data.text(),
            "xmp_source": ", ".join(found.sources) or None,
            "xmp_problem": "\n".join(found.problems) or None,
        }


def _describe(hit: RankedHit) -> str:
    row = hit.row
    said = [*(row.get("xmp_keywords") or []), row.get("xmp_title") or ""]
    matched = [w for w in said if w and any(word in w.lower() for word in hit.words)]
    shown = ", ".join(matched[:3]) if matched else "keywords, title or description"
    return f"XMP mentions it: {shown} (#{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [XmpPass]


@hookimpl
def chronicon_register_spaces() -> list[TextList]:
    return [TextList("xmp", _describe, column="xmp_text", columns=("xmp_keywords", "xmp_title"))]
