"""Capture time from every date source, on JPEGs tagged with pyexiv2 and clips written with PyAV: one file per
source, their priority when they disagree, offsets from the GPS time and from the place, malformed values skipped,
and the source in the catalog and in `info --json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyexiv2
import pytest
from click.testing import CliRunner

from chronicon.cli.main import cli
from chronicon.media import dates
from chronicon.media.dates import CaptureTime, DateTags, capture_time
from chronicon.media.photo import read_photo_metadata
from chronicon.media.video import read_video_metadata
from mediafactory import make_mp4, picture

PARIS = {
    "Exif.GPSInfo.GPSLatitudeRef": "N",
    "Exif.GPSInfo.GPSLatitude": "48/1 51/1 24/1",
    "Exif.GPSInfo.GPSLongitudeRef": "E",
    "Exif.GPSInfo.GPSLongitude": "2/1 21/1 3/1",
}
# Every source of one photo, each saying a different moment (the offset is in the date where the format has one).
ALL_SOURCES = {
    "exif": {
        "Exif.Photo.DateTimeOriginal": "2024:03:10 08:00:00",
        "Exif.Photo.OffsetTimeOriginal": "+09:00",
        "Exif.Photo.DateTimeDigitized": "2024:03:10 09:00:00",
        "Exif.Photo.OffsetTimeDigitized": "+09:00",
        "Exif.Image.DateTime": "2024:05:05 20:00:00",
        "Exif.Image.DateTimeOriginal": "2024:03:10 14:00:00",
        "Exif.GPSInfo.GPSDateStamp": "2024:03:10",
        "Exif.GPSInfo.GPSTimeStamp": "12/1 0/1 0/1",
    },
    "xmp": {
        "Xmp.exif.DateTimeOriginal": "2024-03-10T10:00:00+09:00",
        "Xmp.photoshop.DateCreated": "2024-03-10T11:00:00+09:00",
        "Xmp.xmp.CreateDate": "2024-03-10T12:00:00+09:00",
    },
    "iptc": {"Iptc.Application2.DateCreated": "2024-03-10", "Iptc.Application2.TimeCreated": "13:00:00+09:00"},
}
# What each source gives for that photo, in priority order; the tags to delete to get past it.
LADDER = [
    ("exif DateTimeOriginal", "2024-03-10T08:00:00+09:00", ["Exif.Photo.DateTimeOriginal"]),
    ("exif CreateDate", "2024-03-10T09:00:00+09:00", ["Exif.Photo.DateTimeDigitized"]),
    ("xmp exif:DateTimeOriginal", "2024-03-10T10:00:00+09:00", ["Xmp.exif.DateTimeOriginal"]),
    ("xmp photoshop:DateCreated", "2024-03-10T11:00:00+09:00", ["Xmp.photoshop.DateCreated"]),
    ("xmp xmp:CreateDate", "2024-03-10T12:00:00+09:00", ["Xmp.xmp.CreateDate"]),
    ("iptc DateCreated", "2024-03-10T13:00:00+09:00", ["Iptc.Application2.DateCreated"]),
    ("exif IFD0 DateTimeOriginal", "2024-03-10T14:00:00+09:00", ["Exif.Image.DateTimeOriginal"]),
    ("gps", "2024-03-10T12:00:00+00:00", ["Exif.GPSInfo.GPSDateStamp"]),
    ("exif ModifyDate", "2024-05-05T20:00:00+09:00", ["Exif.Image.DateTime"]),
]


def tagged_jpeg(path: Path, exif: dict[str, Any] | None = None, xmp: dict[str, Any] | None = None,
                iptc: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """A Pillow-made JPEG with the tags written by Exiv2 (pyexiv2), as photo tools write them."""
    picture((64, 48), (200, 30, 30)).save(path, "JPEG", quality=85)
    with pyexiv2.Image(str(path)) as image:
        if exif:
            image.modify_exif(exif)
        if xmp:
            image.modify_xmp(xmp)
        if iptc:
            image.modify_iptc(iptc)
    return path


def taken(path: Path) -> tuple[str | None, str | None, str | None]:
    meta = read_photo_metadata(str(path))
    return meta["taken_at"], meta["taken_at_source"], meta["taken_at_offset"]


# -- one file per source ---------------------------------------------------------------------------------------
def test_exif_date_time_original_with_subseconds_and_offset(tmp_path: Path) -> None:
    exif = {
        "Exif.Photo.DateTimeOriginal": "2024:03:10 08:15:30",
        "Exif.Photo.SubSecTimeOriginal": "045",
        "Exif.Photo.OffsetTimeOriginal": "-05:00",
    }
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2024-03-10T08:15:30.045000-05:00", "exif DateTimeOriginal", "file")


def test_exif_create_date(tmp_path: Path) -> None:
    exif = {"Exif.Photo.DateTimeDigitized": "2024:03:10 08:15:30", "Exif.Photo.OffsetTimeDigitized": "+05:30"}
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2024-03-10T08:15:30+05:30", "exif CreateDate", "file")


def test_exif_modify_date_alone_is_a_local_time(tmp_path: Path) -> None:
    path = tagged_jpeg(tmp_path / "a.jpg", {"Exif.Image.DateTime": "2019:12:31 23:59:58"})
    assert taken(path) == ("2019-12-31T23:59:58", "exif ModifyDate", None)


@pytest.mark.parametrize(
    ("key", "value", "expected", "offset"),
    [
        ("Xmp.exif.DateTimeOriginal", "2024-03-10T08:15:30.5+01:00", "2024-03-10T08:15:30.500000+01:00", "file"),
        ("Xmp.photoshop.DateCreated", "2024-03-10T08:15:30+01:00", "2024-03-10T08:15:30+01:00", "file"),
        ("Xmp.xmp.CreateDate", "2024-03-10T08:15", "2024-03-10T08:15:00", None),  # XMP may leave out seconds
        ("Xmp.photoshop.DateCreated", "2024-03-10", "2024-03-10T00:00:00", None),  # a date alone: midnight
    ],
)
def test_xmp_dates(tmp_path: Path, key: str, value: str, expected: str, offset: str | None) -> None:
    path = tagged_jpeg(tmp_path / "a.jpg", xmp={key: value})
    source = "xmp " + {"exif": "exif:", "photoshop": "photoshop:", "xmp": "xmp:"}[key.split(".")[1]]
    source += key.split(".")[2] + (" (date only)" if len(value) == 10 else "")
    assert taken(path) == (expected, source, offset)


def test_iptc_date_and_time(tmp_path: Path) -> None:
    iptc = {"Iptc.Application2.DateCreated": "2023-11-05", "Iptc.Application2.TimeCreated": "17:45:10-03:00"}
    path = tagged_jpeg(tmp_path / "a.jpg", iptc=iptc)
    assert taken(path) == ("2023-11-05T17:45:10-03:00", "iptc DateCreated", "file")


def test_a_photo_whose_only_date_is_iptc_is_dated(tmp_path: Path) -> None:
    path = tagged_jpeg(tmp_path / "a.jpg", iptc={"Iptc.Application2.DateCreated": "1998-08-21"})
    assert taken(path) == ("1998-08-21T00:00:00", "iptc DateCreated (date only)", None)


def test_a_photo_whose_only_date_is_gps_is_dated_in_utc(tmp_path: Path) -> None:
    exif = {"Exif.GPSInfo.GPSDateStamp": "2022:06:30", "Exif.GPSInfo.GPSTimeStamp": "23/1 10/1 3050/100"}
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2022-06-30T23:10:30.500000+00:00", "gps", "utc")


def test_a_gps_time_with_a_position_is_the_local_time_there(tmp_path: Path) -> None:
    exif = {"Exif.GPSInfo.GPSDateStamp": "2022:06:30", "Exif.GPSInfo.GPSTimeStamp": "23/1 10/1 0/1", **PARIS}
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2022-07-01T01:10:00+02:00", "gps", "place")  # the next day in Paris


def test_quicktime_creationdate(tmp_path: Path) -> None:
    path = tmp_path / "iphone.mov"
    make_mp4(path, seconds=0.3, audio=False, location=None,
             metadata={"com.apple.quicktime.creationdate": "2023-05-01T14:00:00+0200"})  # fmt: skip
    meta = read_video_metadata(str(path))
    assert (meta["taken_at"], meta["taken_at_source"], meta["taken_at_offset"]) == (
        "2023-05-01T14:00:00+02:00",
        "quicktime creationdate",
        "file",
    )


@pytest.mark.parametrize(
    ("location", "expected", "offset"),
    [
        (None, "2023-01-15T12:00:00+00:00", "utc"),
        ("+48.8566+002.3522/", "2023-01-15T13:00:00+01:00", "place"),  # Paris in winter
        ("+40.7128-074.0060/", "2023-01-15T07:00:00-05:00", "place"),  # New York
    ],
)
def test_container_creation_time_is_utc(tmp_path: Path, location: str | None, expected: str, offset: str) -> None:
    path = tmp_path / "clip.mp4"
    make_mp4(path, seconds=0.3, audio=False, location=location, creation_time="2023-01-15T12:00:00Z")
    meta = read_video_metadata(str(path))
    assert (meta["taken_at"], meta["taken_at_source"], meta["taken_at_offset"]) == (
        expected,
        "container creation_time",
        offset,
    )


# -- priority --------------------------------------------------------------------------------------------------
def test_conflicting_dates_follow_the_documented_priority(tmp_path: Path) -> None:
    """Every source at once, each with another time; removing the winner each time walks down SOURCES."""
    exif, xmp, iptc = (dict(ALL_SOURCES[block]) for block in ("exif", "xmp", "iptc"))
    seen: list[str] = []
    for step, (source, expected, remove) in enumerate(LADDER):
        path = tagged_jpeg(tmp_path / f"step{step}.jpg", exif, xmp, iptc)
        when, said, _ = taken(path)
        assert (said, when) == (source, expected), f"step {step}"
        seen.append(source)
        for key in remove:
            for block in (exif, xmp, iptc):
                block.pop(key, None)
    assert seen == [s for s in dates.SOURCES if not s.startswith(("quicktime", "container"))]
    path = tagged_jpeg(tmp_path / "none.jpg", exif, xmp, iptc)
    assert taken(path) == (None, None, None)  # no date left: null (search falls back to the file's time)


def test_video_sources_in_priority_order(tmp_path: Path) -> None:
    tags = {"com.apple.quicktime.creationdate": "2023-05-01T14:00:00-0700", "date": "2021-06-07T08:09:10+0200"}
    path = tmp_path / "both.mov"
    make_mp4(path, seconds=0.3, audio=False, location=None, creation_time="2020-01-01T00:00:00Z", metadata=tags)
    assert read_video_metadata(str(path))["taken_at_source"] == "quicktime creationdate"
    make_mp4(path, seconds=0.3, audio=False, location=None, creation_time="2020-01-01T00:00:00Z",
             metadata={"date": tags["date"]})  # fmt: skip
    assert read_video_metadata(str(path))["taken_at_source"] == "container creation_time"


@pytest.mark.parametrize("name", ["vendor.mov", "vendor.mkv"])
def test_a_vendor_date_tag_of_a_video(tmp_path: Path, name: str) -> None:
    path = tmp_path / name  # QuickTime ©day-style "date", Matroska DATE
    make_mp4(path, seconds=0.3, audio=False, location=None, creation_time=None,
             metadata={"date": "2021-06-07T08:09:10+0200"})  # fmt: skip
    meta = read_video_metadata(str(path))
    assert (meta["taken_at"], meta["taken_at_source"], meta["taken_at_offset"]) == (
        "2021-06-07T08:09:10+02:00",
        "container date",
        "file",
    )


# -- offsets ---------------------------------------------------------------------------------------------------
def test_offset_from_the_gps_time(tmp_path: Path) -> None:
    exif = {
        "Exif.Photo.DateTimeOriginal": "2024:07:01 14:00:00",
        "Exif.GPSInfo.GPSDateStamp": "2024:07:01",
        "Exif.GPSInfo.GPSTimeStamp": "8/1 29/1 52/1",  # 5:30 earlier, give or take the fix's age
        **PARIS,  # the place would say +02:00: the camera's own clock is believed first
    }
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2024-07-01T14:00:00+05:30", "exif DateTimeOriginal", "gps time")


@pytest.mark.parametrize(("day", "expected"), [("2024:01:15", "+01:00"), ("2024:07:15", "+02:00")])
def test_offset_from_the_place(tmp_path: Path, day: str, expected: str) -> None:
    path = tagged_jpeg(tmp_path / "a.jpg", {"Exif.Photo.DateTimeOriginal": f"{day} 10:00:00", **PARIS})
    assert taken(path) == (f"{day.replace(':', '-')}T10:00:00{expected}", "exif DateTimeOriginal", "place")


def test_an_absurd_gps_time_gives_no_offset(tmp_path: Path) -> None:
    exif = {
        "Exif.Photo.DateTimeOriginal": "2024:07:01 14:00:00",
        "Exif.GPSInfo.GPSDateStamp": "2024:06:28",  # a stale fix, days old: not a time zone
        "Exif.GPSInfo.GPSTimeStamp": "8/1 0/1 0/1",
    }
    path = tagged_jpeg(tmp_path / "a.jpg", exif)
    assert taken(path) == ("2024-07-01T14:00:00", "exif DateTimeOriginal", None)


def test_no_offset_and_no_gps_stays_local(tmp_path: Path) -> None:
    path = tagged_jpeg(tmp_path / "a.jpg", {"Exif.Photo.DateTimeOriginal": "2024:07:01 14:00:00"})
    assert taken(path) == ("2024-07-01T14:00:00", "exif DateTimeOriginal", None)


# -- malformed values ------------------------------------------------------------------------------------------
def test_malformed_values_are_skipped_for_the_next_source(tmp_path: Path) -> None:
    exif = {
        "Exif.Photo.DateTimeOriginal": "0000:00:00 00:00:00",
        "Exif.Photo.DateTimeDigitized": "2024:13:45 99:00:00",
        "Exif.GPSInfo.GPSDateStamp": "2024:02:30",
        "Exif.GPSInfo.GPSTimeStamp": "25/1 0/1 0/1",
    }
    xmp = {"Xmp.exif.DateTimeOriginal": "yesterday", "Xmp.photoshop.DateCreated": "2024-02-30T10:00:00"}
    iptc = {"Iptc.Application2.DateCreated": "2024-00-00", "Iptc.Application2.TimeCreated": "10:00:00+01:00"}
    path = tagged_jpeg(tmp_path / "a.jpg", exif, {**xmp, "Xmp.xmp.CreateDate": "2021-09-09T09:09:09Z"}, iptc)
    assert taken(path) == ("2021-09-09T09:09:09+00:00", "xmp xmp:CreateDate", "file")
    path = tagged_jpeg(tmp_path / "b.jpg", exif, xmp, iptc)
    assert taken(path) == (None, None, None)


@pytest.mark.parametrize(
    "tags",
    [
        DateTags(exif_original="2024:01:01 10:00:00", exif_original_offset="+99:00"),  # the offset is dropped
        DateTags(exif_original=b"2024:01:01 10:00:00\x00", exif_original_subsec="abc"),
        DateTags(exif_original=12345, exif_create=["2024"], exif_modify="2024:01:01 10:00:00"),
    ],
)
def test_garbage_in_a_source_costs_that_source_only(tags: DateTags) -> None:
    assert capture_time(tags).taken_at == "2024-01-01T10:00:00"


def test_exif_dates_with_other_separators() -> None:
    for text in ("2024-01-01 10:00:00", "2024/01/01 10:00:00", "2024.01.01T10:00:00"):
        assert capture_time(DateTags(exif_original=text)) == CaptureTime("2024-01-01T10:00:00", "exif DateTimeOriginal")


@pytest.mark.parametrize(
    "tags",
    [
        DateTags(gps_date="2024:01:01", gps_time=(float("nan"), 0, 0)),
        DateTags(gps_date="1970:01:01", gps_time=(0, 0, 0)),  # before the GPS epoch
        DateTags(creation_time="1904-01-01T00:00:00Z"),  # QuickTime's zero
        DateTags(quicktime_creationdate="2024-W01-1"),
        DateTags(xmp_date_created="2024-01-01T10:00:00+25:00"),
        DateTags(iptc_date="20240101", iptc_time="xx"),  # the date alone is still kept
        DateTags(gps_lat=48.85, gps_lon=2.35),
    ],
)
def test_malformed_dates_never_raise(tags: DateTags) -> None:
    found = capture_time(tags)
    date_only = CaptureTime("2024-01-01T00:00:00", "iptc DateCreated (date only)", None)
    assert found == (date_only if tags.iptc_date else CaptureTime())


def test_no_place_for_null_island_or_out_of_range() -> None:
    assert dates.place_zone(0.0, 0.0) is None and dates.place_zone(91.0, 0.0) is None
    assert dates.place_zone(None, 2.0) is None and dates.place_zone(float("inf"), 2.0) is None
    assert str(dates.place_zone(-33.8688, 151.2093)) == "Australia/Sydney"


# -- catalog and info ------------------------------------------------------------------------------------------
def test_scan_stores_the_source_and_info_shows_it(make_library: Any, catalog_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    tagged_jpeg(root / "scan.jpg", iptc={"Iptc.Application2.DateCreated": "1998-08-21"})
    gps = {"Exif.GPSInfo.GPSDateStamp": "2022:01:10", "Exif.GPSInfo.GPSTimeStamp": "9/1 0/1 0/1", **PARIS}
    tagged_jpeg(root / "gps.jpg", gps)
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    lib = make_library()
    assert lib.scan([root]).counts["failed"] == 0
    row = lib.info(root / "gps.jpg")
    assert (row["taken_at"], row["taken_at_source"], row["taken_at_offset"]) == (
        "2022-01-10T10:00:00+01:00",
        "gps",
        "place",
    )
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path / "no-config")})
    result = runner.invoke(cli, ["--catalog", str(catalog_dir), "info", str(root / "scan.jpg"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["taken_at"], data["taken_at_source"], data["taken_at_offset"]) == (
        "1998-08-21T00:00:00",
        "iptc DateCreated (date only)",
        None,
    )
    result = runner.invoke(cli, ["--catalog", str(catalog_dir), "info", str(root / "scan.jpg")])
    assert "taken_at_source" in result.output and "iptc DateCreated (date only)" in result.output
    # Dated, so the date filters find it on its day (a date alone compares as that day's midnight).
    assert [Path(h.path).name for h in lib.browse(after="1998-08-21", before="1998-08-21")] == ["scan.jpg"]
    assert [Path(h.path).name for h in lib.browse(after="2022-01-10", before="2022-01-10")] == ["gps.jpg"]
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before  # originals are never written
