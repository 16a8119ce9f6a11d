"""Capture time: the dates a file records, taken in one priority order, with the UTC offset where it is known."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

# The sources of `taken_at`, highest priority first (docs/dates.md gives the reasons). The file's mtime is not
# one: search and date sort already fall back to it where `taken_at` is null.
EXIF_ORIGINAL = "exif DateTimeOriginal"
EXIF_CREATE = "exif CreateDate"  # DateTimeDigitized
XMP_ORIGINAL = "xmp exif:DateTimeOriginal"
XMP_DATE_CREATED = "xmp photoshop:DateCreated"
XMP_CREATE = "xmp xmp:CreateDate"
IPTC_CREATED = "iptc DateCreated"
EXIF_IFD0_ORIGINAL = "exif IFD0 DateTimeOriginal"  # TIFF/EP's place for it: some scanners and vendors
QUICKTIME = "quicktime creationdate"
CONTAINER = "container creation_time"
CONTAINER_DATE = "container date"  # QuickTime ©day, Matroska DATE and other vendors' "date" tags
GPS = "gps"
EXIF_MODIFY = "exif ModifyDate"  # DateTime of IFD0: editors rewrite it, so it comes last
SOURCES: tuple[str, ...] = (
    EXIF_ORIGINAL,
    EXIF_CREATE,
    XMP_ORIGINAL,
    XMP_DATE_CREATED,
    XMP_CREATE,
    IPTC_CREATED,
    EXIF_IFD0_ORIGINAL,
    QUICKTIME,
    CONTAINER,
    CONTAINER_DATE,
    GPS,
    EXIF_MODIFY,
)

# How the UTC offset of `taken_at` was known (`taken_at_offset`); None: a local time of unknown offset.
OFFSET_FILE = "file"  # the file wrote it with the date
OFFSET_GPS_TIME = "gps time"  # the local time minus the GPS (UTC) time of the same photo
OFFSET_PLACE = "place"  # the time zone at the GPS position, on that date
OFFSET_UTC = "utc"  # a UTC source and no position: the time is shown in UTC
DATE_ONLY = "(date only)"  # added to the source of a date without a time (stored as that day's midnight)

_MIN_YEAR, _MAX_YEAR = 1800, 2199
_MIN_VIDEO_YEAR = 1971  # QuickTime (1904) and Unix (1970) epoch zeros mean "the device did not know"
_MIN_GPS_YEAR = 1980  # the GPS epoch
_MAX_OFFSET = timedelta(hours=14)
_EXIF_DATE = re.compile(r"^(\d{4})[:\-/.](\d{2})[:\-/.](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_ISO = re.compile(
    r"^(\d{4})[-:](\d{2})[-:](\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)
_IPTC_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_IPTC_TIME = re.compile(r"^(\d{2}):?(\d{2}):?(\d{2})(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


@dataclass
class DateTags:
    """The raw date values one file holds, as its reader found them (None = absent). Nothing here is trusted:
    `capture_time` checks every value and skips a malformed one."""

    exif_original: Any = None  # DateTimeOriginal, "2024:01:02 03:04:05"
    exif_original_subsec: Any = None  # SubSecTimeOriginal, "045"
    exif_original_offset: Any = None  # OffsetTimeOriginal, "+02:00"
    exif_create: Any = None  # DateTimeDigitized (CreateDate)
    exif_create_subsec: Any = None
    exif_create_offset: Any = None
    exif_modify: Any = None  # DateTime of IFD0 (ModifyDate)
    exif_modify_subsec: Any = None
    exif_modify_offset: Any = None
    xmp_original: Any = None  # Xmp.exif.DateTimeOriginal, ISO 8601
    xmp_date_created: Any = None  # Xmp.photoshop.DateCreated
    xmp_create: Any = None  # Xmp.xmp.CreateDate
    iptc_date: Any = None  # Iptc.Application2.DateCreated, "2024-01-02" or "20240102"
    iptc_time: Any = None  # Iptc.Application2.TimeCreated, "03:04:05+01:00" or "030405+0100"
    exif_ifd0_original: Any = None  # DateTimeOriginal written in IFD0 instead of the EXIF IFD
    quicktime_creationdate: Any = None  # com.apple.quicktime.creationdate, local time with its offset
    creation_time: Any = None  # the container's creation_time, UTC (naive in AVI: local)
    container_date: Any = None  # the container's "date" tag (©day, DATE), ISO 8601
    gps_date: Any = None  # GPSDateStamp, "2024:01:02" (UTC)
    gps_time: Any = None  # GPSTimeStamp: (hours, minutes, seconds) numbers or "10/1 20/1 30/1" (UTC)
    gps_lat: float | None = None
    gps_lon: float | None = None

    def has_exif_capture_date(self) -> bool:
        """Whether EXIF gives DateTimeOriginal or CreateDate: then no lower source can win."""
        return _exif_moment(self.exif_original) is not None or _exif_moment(self.exif_create) is not None


@dataclass(frozen=True)
class CaptureTime:
    """When a file was captured: ISO 8601 text (with the offset when known), its source and how the offset was
    known; all None when the file records no usable date."""

    taken_at: str | None = None
    source: str | None = None
    offset: str | None = None


def capture_time(tags: DateTags) -> CaptureTime:
    """The capture time of the first source in SOURCES order that holds a valid date, with its UTC offset.

    A local time without an offset gets one from the GPS time of the same file (rounded to 15 minutes), else
    from the time zone at its GPS position; a UTC time (GPS, a container's creation_time) is shown as the local
    time of that position, else in UTC. A date without a time (IPTC DateCreated alone) is that day's midnight,
    its source marked DATE_ONLY.
    """
    for source, moment, is_utc in _candidates(tags):
        return _localise(source, moment, is_utc, tags)
    return CaptureTime()


# -- the candidates, in priority order ---------------------------------------------------------------------
def _candidates(tags: DateTags) -> Iterator[tuple[str, datetime | date, bool]]:
    exif = (
        (EXIF_ORIGINAL, tags.exif_original, tags.exif_original_subsec, tags.exif_original_offset),
        (EXIF_CREATE, tags.exif_create, tags.exif_create_subsec, tags.exif_create_offset),
        (EXIF_MODIFY, tags.exif_modify, tags.exif_modify_subsec, tags.exif_modify_offset),
    )
    offsets = [_offset(offset) for *_, offset in exif]
    # The offset written for this date, else any other EXIF offset of the file (its dates share a zone).
    shared = next((offset for offset in offsets if offset is not None), None)
    camera: dict[str, datetime] = {}
    for index, (source, value, subsec, _) in enumerate(exif):
        moment = _exif_moment(value)
        if moment is not None:
            camera[source] = moment.replace(microsecond=_subsec(subsec), tzinfo=offsets[index] or shared)
    for source in (EXIF_ORIGINAL, EXIF_CREATE):
        if source in camera:
            yield source, camera[source], False
    for source, value in (
        (XMP_ORIGINAL, tags.xmp_original),
        (XMP_DATE_CREATED, tags.xmp_date_created),
        (XMP_CREATE, tags.xmp_create),
    ):
        found = _iso_moment(value)
        if found is not None:
            yield source, found, False
    iptc = _iptc_moment(tags.iptc_date, tags.iptc_time)
    if iptc is not None:
        yield IPTC_CREATED, iptc, False
    ifd0 = _exif_moment(tags.exif_ifd0_original)
    if ifd0 is not None:
        yield EXIF_IFD0_ORIGINAL, ifd0.replace(tzinfo=shared), False
    quicktime = _iso_moment(tags.quicktime_creationdate, min_year=_MIN_VIDEO_YEAR)
    if isinstance(quicktime, datetime):
        yield QUICKTIME, quicktime, False
    container = _iso_moment(tags.creation_time, min_year=_MIN_VIDEO_YEAR)
    if isinstance(container, datetime):
        yield CONTAINER, container, container.tzinfo is not None and container.utcoffset() == timedelta(0)
    vendor = _iso_moment(tags.container_date, min_year=_MIN_VIDEO_YEAR)
    if isinstance(vendor, datetime):
        yield CONTAINER_DATE, vendor, False
    gps = _gps_moment(tags.gps_date, tags.gps_time)
    if gps is not None:
        yield GPS, gps, True
    if EXIF_MODIFY in camera:
        yield EXIF_MODIFY, camera[EXIF_MODIFY], False


def _localise(source: str, moment: datetime | date, is_utc: bool, tags: DateTags) -> CaptureTime:
    if not isinstance(moment, datetime):  # midnight, so that it compares and sorts with the other times
        return CaptureTime(datetime.combine(moment, time()).isoformat(), f"{source} {DATE_ONLY}", None)
    if is_utc:
        zone = place_zone(tags.gps_lat, tags.gps_lon)
        if zone is not None:
            return CaptureTime(moment.astimezone(zone).isoformat(), source, OFFSET_PLACE)
        return CaptureTime(moment.astimezone(UTC).isoformat(), source, OFFSET_UTC)
    if moment.tzinfo is not None:
        return CaptureTime(moment.isoformat(), source, OFFSET_FILE)
    gps = _gps_moment(tags.gps_date, tags.gps_time)
    offset = _offset_from_gps(moment, gps) if gps is not None else None
    if offset is not None:
        return CaptureTime(moment.replace(tzinfo=offset).isoformat(), source, OFFSET_GPS_TIME)
    zone = place_zone(tags.gps_lat, tags.gps_lon)
    if zone is not None:
        utc_offset = moment.replace(tzinfo=zone).utcoffset()
        if utc_offset is not None:
            return CaptureTime(moment.replace(tzinfo=timezone(utc_offset)).isoformat(), source, OFFSET_PLACE)
    return CaptureTime(moment.isoformat(), source, None)


def _offset_from_gps(local: datetime, gps: datetime) -> timezone | None:
    """The local time's offset from the GPS time of the same shot, to the nearest 15 minutes; None if absurd."""
    minutes = round((local - gps.replace(tzinfo=None)).total_seconds() / 900) * 15
    delta = timedelta(minutes=minutes)
    return timezone(delta) if abs(delta) <= _MAX_OFFSET else None


# -- parsing -----------------------------------------------------------------------------------------------
def clean_text(value: Any) -> str | None:
    """A tag's text without NULs and surrounding space (bytes decoded as UTF-8); None when empty or not text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def _moment(*parts: int, min_year: int = _MIN_YEAR) -> datetime | None:
    """A naive datetime of (year, month, day[, hour, minute, second]); None when impossible or out of range."""
    if len(parts) not in (3, 6) or not min_year <= parts[0] <= _MAX_YEAR:
        return None
    hour, minute, second = parts[3:] if len(parts) == 6 else (0, 0, 0)
    try:
        return datetime(parts[0], parts[1], parts[2], hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00", month 13, hour 24 and other impossible values
        return None


def _exif_moment(value: Any) -> datetime | None:
    text = clean_text(value)
    match = _EXIF_DATE.match(text) if text else None
    return _moment(*(int(group) for group in match.groups())) if match else None


def _subsec(value: Any) -> int:
    """SubSecTime* ("123", "05", 45) as microseconds; 0 when absent or not digits."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else clean_text(value)
    if not text or not text.isdigit():
        return 0
    return int(text[:6].ljust(6, "0"))


def _offset(value: Any) -> timezone | None:
    """ "+02:00", "-0530", "Z" as a fixed offset; None when absent or beyond ±14:00."""
    text = clean_text(value)
    if text is not None and text.upper() == "Z":
        return UTC
    match = _OFFSET.match(text) if text else None
    if not match:
        return None
    sign, hours, minutes = match.groups()
    if int(minutes) >= 60:
        return None
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > _MAX_OFFSET:
        return None
    return timezone(-delta if sign == "-" else delta)


def _iso_moment(value: Any, *, min_year: int = _MIN_YEAR) -> datetime | date | None:
    """ISO 8601 as XMP and QuickTime write it: a date, or a date and time (seconds and fraction optional) with an
    optional offset; a date alone stays a date. EXIF's "2024:01:02 03:04:05" in XMP is accepted too."""
    text = clean_text(value)
    match = _ISO.match(text) if text else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is None:
        start = _moment(int(year), int(month), int(day), min_year=min_year)
        return start.date() if start else None
    moment = _moment(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), min_year=min_year)
    if moment is None:
        return None
    moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")) if fraction else 0)
    if zone is None:
        return moment
    offset = _offset(zone)
    return moment.replace(tzinfo=offset) if offset is not None else None


def _iptc_moment(day: Any, clock: Any) -> datetime | date | None:
    """IPTC DateCreated (a date) with TimeCreated (time and offset) when that one is valid."""
    day_text, time_text = clean_text(day), clean_text(clock)
    day_match = _IPTC_DATE.match(day_text) if day_text else None
    if not day_match:
        return None
    start = _moment(*(int(group) for group in day_match.groups()))
    if start is None:
        return None
    time_match = _IPTC_TIME.match(time_text) if time_text else None
    if not time_match:
        return start.date()
    hour, minute, second, zone = time_match.groups()
    moment = _moment(start.year, start.month, start.day, int(hour), int(minute), int(second))
    if moment is None:
        return start.date()
    offset = _offset(zone) if zone else None
    return moment.replace(tzinfo=offset) if offset is not None else moment


def _number(value: Any) -> float | None:
    """A finite float from a number, an EXIF rational (or (numerator, denominator)) or "n/d" text."""
    try:
        if isinstance(value, str):
            numerator, _, denominator = value.strip().partition("/")
            result = float(numerator) / float(denominator or 1)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            result = float(value[0]) / float(value[1])
        else:
            result = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def _gps_moment(day: Any, clock: Any) -> datetime | None:
    """GPSDateStamp with GPSTimeStamp as an aware UTC time; None unless both are valid."""
    day_text = clean_text(day)
    match = _IPTC_DATE.match(day_text.replace(":", "-")) if day_text else None
    if not match:
        return None
    parts = clock.split() if isinstance(clock, str) else clock
    if not isinstance(parts, (tuple, list)) or len(parts) != 3:
        return None
    numbers = [_number(part) for part in parts]
    hours, minutes, seconds = (n if n is not None else -1.0 for n in numbers)
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        return None
    start = _moment(*(int(group) for group in match.groups()), min_year=_MIN_GPS_YEAR)
    if start is None:
        return None
    moment = start + timedelta(hours=int(hours), minutes=int(minutes), seconds=round(seconds, 6))
    return moment.replace(tzinfo=UTC)


# -- the time zone of a place ------------------------------------------------------------------------------
_zone_lock = threading.Lock()


def place_zone(lat: float | None, lon: float | None) -> tzinfo | None:
    """The time zone at a position (timezonefinder's offline polygons, loaded on first use; thread-safe),
    None for no position, (0, 0) (what devices write without a fix) or a zone the system does not know."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    try:
        import timezonefinder

        with _zone_lock:  # its global finder is documented thread-safe; the lock keeps that true for us too
            name = timezonefinder.timezone_at(lng=lon, lat=lat)
    except Exception:  # a damaged or missing data file costs the offset, never the scan
        return None
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # unknown to this system's tz database
        return None
