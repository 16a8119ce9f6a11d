"""XMP and IPTC metadata (rating, colour label, keywords, title, description) from sidecars, JPEG APP1 packets,
the XMP exiv2 finds in other formats (HEIC, PNG, TIFF, WebP, RAW) and IPTC-IIM records."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from chronicon.errors import MediaError
from chronicon.media.exiv import EXIV_FORMATS, read_exiv

SIDECAR_EXTENSION = ".xmp"
MAX_PACKET_BYTES = 4 * 1024 * 1024  # an XMP sidecar or packet larger than this is refused, not parsed
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_NS = {
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digikam": "http://www.digikam.org/ns/1.0/",
    "darktable": "http://darktable.sf.net/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}
# Region types whose names are people (MWG: Face; absent = unspecified, which editors use for faces too).
_PERSON_REGION_TYPES = {None, "", "Face"}
# darktable's colour labels (darktable:colorlabels, a Seq of these numbers) as the label names Lightroom writes.
_DARKTABLE_LABELS = {"0": "Red", "1": "Yellow", "2": "Green", "3": "Blue", "4": "Purple"}
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmpError(MediaError):
    """An XMP packet that cannot be used (not well-formed, a DOCTYPE or entities, too large)."""


@dataclass
class XmpData:
    """What one XMP source says; None (or an empty field list for lists) = the source does not say."""

    rating: int | None = None  # xmp:Rating, -1 (rejected) .. 5
    label: str | None = None  # xmp:Label (colour label: "Red", ...)
    keywords: list[str] | None = None  # dc:subject
    hierarchy: list[str] | None = None  # lr:hierarchicalSubject ("Places|France|Paris"), digiKam's tags as "|"
    title: str | None = None  # dc:title (x-default, else the first language)
    description: str | None = None  # dc:description
    people: list[str] | None = None  # names of the face regions (MWG, Microsoft Photo) and Iptc4xmpExt:PersonInImage

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def over(self, other: XmpData) -> XmpData:
        """This source's fields where it states them, `other`'s elsewhere (a sidecar over the embedded packet)."""
        merged: dict[str, Any] = {f.name: _first(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        return XmpData(**merged)

    def terms(self) -> list[str]:
        """Lower-case keywords a `--keyword` filter matches: each keyword, each hierarchical path and its levels."""
        out: list[str] = []
        for keyword in [*(self.keywords or []), *(self.people or [])]:
            out.append(keyword.lower())
        for path in self.hierarchy or []:
            levels = [level.strip() for level in path.split("|") if level.strip()]
            out.append("|".join(levels).lower())
            out.extend(level.lower() for level in levels)
        return list(dict.fromkeys(t for t in out if t))

    def text(self) -> str | None:
        """The words for full-text search: keywords (hierarchy levels too), title and description."""
        words: list[str] = [*(self.keywords or []), *(self.people or [])]
        for path in self.hierarchy or []:
            words.extend(level.strip() for level in path.split("|") if level.strip())
        parts = [" ".join(dict.fromkeys(words)), self.title or "", self.description or ""]
        joined = "\n".join(p for p in parts if p)
        return joined or None


@dataclass
class XmpResult:
    """The merged XMP of one asset, where it came from, and the sources that could not be read."""

    data: XmpData = field(default_factory=XmpData)
    sources: list[str] = field(default_factory=list)  # "sidecar photo.jpg.xmp", "embedded"
    problems: list[str] = field(default_factory=list)  # "photo.xmp: not well-formed XML (line 3, column 1)"


def _first(*values: object) -> object:
    return next((v for v in values if v is not None), None)


# -- finding sidecars ------------------------------------------------------------------------------------
def sidecar_names(name: str, extensions: Iterable[str] = (SIDECAR_EXTENSION,)) -> list[str]:
    """Lower-case names of the sidecars of the file `name`, most specific first: `photo.jpg.xmp` (darktable,
    digiKam) then `photo.xmp` (Lightroom, Capture One)."""
    lower = name.lower()
    stem = os.path.splitext(lower)[0]
    out: list[str] = []
    for ext in extensions:
        for candidate in (lower + ext, stem + ext):
            if candidate != lower and candidate not in out:
                out.append(candidate)
    return out


def find_sidecars(path: str) -> list[str]:
    """The sidecar files of the photo at `path` (any case of `.xmp`), most specific first."""
    folder, name = os.path.split(path)
    wanted = sidecar_names(name)
    try:
        with os.scandir(folder or ".") as entries:
            found = {e.name.lower(): e.path for e in entries if e.name.lower() in wanted and e.is_file()}
    except OSError:
        return []
    return [found[n] for n in wanted if n in found]


# -- parsing ---------------------------------------------------------------------------------------------
def parse_xmp(packet: bytes | str) -> XmpData:
    """The fields of one XMP packet (RDF/XML). Raises XmpError for XML that is not well-formed, declares a
    DOCTYPE or entities (refused, as defusedxml would), or is larger than MAX_PACKET_BYTES."""
    raw = packet.encode("utf-8") if isinstance(packet, str) else packet
    if len(raw) > MAX_PACKET_BYTES:
        raise XmpError(f"XMP larger than {MAX_PACKET_BYTES // (1024 * 1024)} MB")
    raw = raw.strip(b"\x00 \t\r\n")
    if _DOCTYPE.search(raw):
        raise XmpError("XMP declares a DOCTYPE or entities (refused)")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise XmpError(f"not well-formed XML (line {line}, column {column})") from exc
    data = XmpData()
    tags: list[str] = []
    for desc in root.iter(f"{{{_RDF}}}Description"):
        for attr, value in desc.attrib.items():
            _take(data, tags, attr, [value.strip()], is_alt=False)
        for prop in desc:
            _take(data, tags, prop.tag, _values(prop), is_alt=prop.find(f"{{{_RDF}}}Alt") is not None, element=prop)
    if data.hierarchy is None and tags:  # digiKam's TagsList ("Places/France/Paris") when Lightroom's is absent
        data.hierarchy = [t.replace("/", "|") for t in tags]
    people = _people(root)
    data.people = people or None
    return data


def _field_text(node: ET.Element, ns: str, local: str) -> str | None:
    """A simple property given as an attribute or as a child element of `node`."""
    tag = f"{{{_NS[ns]}}}{local}"
    value = node.get(tag)
    if value is None:
        child = node.find(tag)
        value = child.text if child is not None else None
    return value.strip() if value and value.strip() else None


def _people(root: ET.Element) -> list[str]:
    """Names of the people a packet tags: MWG face regions (Lightroom, digiKam, Picasa's successors), Microsoft
    Photo regions (Windows Photo Gallery) and Iptc4xmpExt:PersonInImage, each once, in order."""
    names: list[str] = []
    for region_list in root.iter(f"{{{_NS['mwg-rs']}}}RegionList"):
        for item in region_list.iter(f"{{{_RDF}}}li"):
            node = item.find(f"{{{_RDF}}}Description")
            node = node if node is not None else item  # rdf:parseType="Resource" puts the fields on the li itself
            name = _field_text(node, "mwg-rs", "Name")
            if name and _field_text(node, "mwg-rs", "Type") in _PERSON_REGION_TYPES:
                names.append(name)
    for node in root.iter():
        name = node.get(f"{{{_NS['MPReg']}}}PersonDisplayName")
        if name is None and node.tag == f"{{{_NS['MPReg']}}}PersonDisplayName":
            name = node.text
        if name and name.strip():
            names.append(name.strip())
    for prop in root.iter(f"{{{_NS['Iptc4xmpExt']}}}PersonInImage"):
        names.extend(v for v in _values(prop) if v)
    return list(dict.fromkeys(names))


def _values(prop: ET.Element) -> list[str]:
    """The text of a property: its rdf:li items (Bag, Seq, Alt), else its own text."""
    items = list(prop.iter(f"{{{_RDF}}}li"))
    if items:
        return [(li.text or "").strip() for li in items]
    text = (prop.text or "").strip()
    resource = prop.get(f"{{{_RDF}}}resource")
    return [text] if text else ([resource.strip()] if resource else [])


def _alt_text(prop: ET.Element) -> str | None:
    """A language alternative's x-default text, else its first non-empty one."""
    items = [(li.get(_XML_LANG), (li.text or "").strip()) for li in prop.iter(f"{{{_RDF}}}li")]
    default = next((text for lang, text in items if lang == "x-default" and text), None)
    return default or next((text for _, text in items if text), None)


def _take(data: XmpData, tags: list[str], tag: str, values: list[str], *, is_alt: bool,
          element: ET.Element | None = None) -> None:  # fmt: skip
    values = [v for v in values if v]
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if ns == _NS["xmp"] and local == "Rating":
        data.rating = _rating(values[0]) if values else data.rating
    elif ns == _NS["xmp"] and local == "Label":
        data.label = values[0] if values else data.label
    elif ns == _NS["darktable"] and local == "colorlabels" and data.label is None:
        data.label = next((_DARKTABLE_LABELS[v] for v in values if v in _DARKTABLE_LABELS), None)
    elif ns == _NS["dc"] and local == "subject":
        data.keywords = list(dict.fromkeys([*(data.keywords or []), *values]))
    elif ns == _NS["lr"] and local == "hierarchicalSubject":
        data.hierarchy = list(dict.fromkeys([*(data.hierarchy or []), *values]))
    elif ns == _NS["digikam"] and local == "TagsList":
        tags.extend(v for v in values if v not in tags)
    elif ns == _NS["dc"] and local in ("title", "description"):
        text = _alt_text(element) if element is not None and is_alt else (values[0] if values else None)
        if text:
            setattr(data, local, text)


def _rating(text: str) -> int | None:
    try:
        value = round(float(text))
    except (ValueError, OverflowError):
        return None
    return value if -1 <= value <= 5 else None


# -- embedded packets ------------------------------------------------------------------------------------
def jpeg_xmp(path: str) -> bytes | None:
    """The XMP packet of a JPEG's APP1 segment (`http://ns.adobe.com/xap/1.0/\\0`), reading only the headers;
    None when the file is not a JPEG or has none."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        while True:
            marker = fh.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            code = marker[1]
            if code == 0xFF:  # fill byte: the marker code follows
                fh.seek(-1, os.SEEK_CUR)
                continue
            if code in (0xD9, 0xDA):  # end of image, start of scan: no more metadata segments
                return None
            if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
                continue
            size_bytes = fh.read(2)
            if len(size_bytes) < 2:
                return None
            size = int.from_bytes(size_bytes, "big") - 2
            if size < 0:
                return None
            if code == 0xE1 and size >= len(JPEG_XMP_HEADER):
                payload = fh.read(size)
                if payload.startswith(JPEG_XMP_HEADER):
                    return payload[len(JPEG_XMP_HEADER) :]
            else:
                fh.seek(size, os.SEEK_CUR)


def _listed(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def iptc_data(records: dict[str, Any]) -> XmpData:
    """What IPTC-IIM records say, in XMP's terms: Keywords, ObjectName (the title) and Caption/Abstract."""
    keywords = _listed(records.get("Iptc.Application2.Keywords"))
    title = _listed(records.get("Iptc.Application2.ObjectName"))
    caption = _listed(records.get("Iptc.Application2.Caption"))
    return XmpData(keywords=keywords or None, title=title[0] if title else None,
                   description=caption[0] if caption else None)  # fmt: skip


def _embedded(path: str, fmt: str | None, result: XmpResult) -> list[tuple[str, XmpData]]:
    """The embedded XMP packet, then the IPTC records, of a photo (least specific last)."""
    found: list[tuple[str, XmpData]] = []
    packet: bytes | str | None = None
    records: dict[str, Any] = {}
    try:
        if fmt in (None, "jpeg"):
            packet = jpeg_xmp(path)  # the headers only: faster than exiv2 for the common case
        if fmt in EXIV_FORMATS:
            tags = read_exiv(path, xmp=fmt != "jpeg")
            packet = packet if fmt == "jpeg" else tags.xmp_packet
            records = tags.iptc
    except MediaError as exc:
        result.problems.append(f"embedded metadata: {exc}")
    if packet is not None:
        try:
            found.append(("embedded", parse_xmp(packet)))
        except XmpError as exc:
            result.problems.append(f"embedded XMP: {exc}")
    if records:
        found.append(("iptc", iptc_data(records)))
    return found


def read_xmp(
    path: str, sidecars: Sequence[str] | None = None, *, embedded: bool = True, fmt: str | None = None
) -> XmpResult:
    """The XMP of the photo or video at `path`: its sidecars (`sidecars`, most specific first; None = look for
    them) over the XMP packet embedded in the file (`fmt`, the sniffed format, says where to look: JPEG APP1, or
    exiv2 for HEIC, PNG, TIFF, WebP and RAW; None = JPEG only) over its IPTC records. A source that cannot be
    read or parsed is left out and named in `problems`; this never raises for bad XMP. Only reads files."""
    result = XmpResult()
    found: list[tuple[str, XmpData]] = []
    for sidecar in find_sidecars(path) if sidecars is None else sidecars:
        name = os.path.basename(sidecar)
        try:
            with open(sidecar, "rb") as fh:
                raw = fh.read(MAX_PACKET_BYTES + 1)
            found.append((f"sidecar {name}", parse_xmp(raw)))
        except XmpError as exc:
            result.problems.append(f"{name}: {exc}")
        except OSError as exc:
            result.problems.append(f"{name}: {exc.strerror or exc}")
    if embedded:
        found.extend(_embedded(path, fmt, result))
    merged = XmpData()
    for source, data in reversed(found):  # the least specific first: each later one wins where it says
        if not data.is_empty():
            merged = data.over(merged)
            result.sources.insert(0, source)
    result.data = merged
    return result
