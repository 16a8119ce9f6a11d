"""The bursts pass end to end on real photos: an iPhone burst (MakerNote BurstUUID) and a camera burst without an id
(one camera, sub-second gaps, close pHash) each become one stack with the sharpest frame as cover; other scenes
in the same second, another camera and frames without sub-seconds far apart stay apart; rescans after a deleted,
moved or lone frame regroup only what changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyexiv2
import pytest
from PIL import Image

from burstfactory import apple_makernote, burst_library
from chronicon.builtin.burst_groups import Rules, bursts
from chronicon.builtin.bursts import regroup, rules_from
from chronicon.library import Library
from chronicon.media.burst_ids import GCAMERA_NS, apple_burst_uuid, gcamera_burst_id, read_burst_facts
from chronicon.media.photo import register_heif

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture
def library_dir(tmp_path: Path, sample_photos: Path) -> Path:
    return burst_library(tmp_path / "library", sample_photos)


def _library(catalog_dir: Path, **overrides: Any) -> Library:
    settings = {"tags.enabled": False, "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False,
                "ocr.enabled": False, "shots.detector": "fast", "plugins.paths": [str(PLUGINS_DIR)],
                "plugins.disabled": ["faces", "extract", "albums"], **overrides}  # fmt: skip
    return Library(catalog_dir, overrides=settings, environ={}, entry_points=False)


def _stacks(lib: Library) -> dict[str, list[str]]:
    """cover name -> sorted member names, read from the catalog's `burst_cover` column."""
    rows = list(lib.catalog.rows(None, ["id", "path", "burst_cover", "missing"]))
    names = {r["id"]: Path(r["path"]).name for r in rows}
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["burst_cover"]:
            out.setdefault(names[row["burst_cover"]], []).append(names[row["id"]])
    return {cover: sorted(members) for cover, members in out.items()}


def _sharpest(lib: Library, names: list[str]) -> str:
    rows = [r for r in lib.catalog.rows(None, ["path", "sharpness"]) if Path(r["path"]).name in names]
    return Path(max(rows, key=lambda r: r["sharpness"])["path"]).name


def test_burst_ids_and_times_are_read_from_the_file(library_dir: Path, tmp_path: Path) -> None:
    facts = read_burst_facts(str(library_dir / "trip" / "IMG_0003.JPG"))
    assert facts.burst_id == "6F0E4E6A-1C47-4E0C-9C77-2E9D0B3B6B01" and facts.source == "apple"
    assert facts.subsec and facts.time is not None
    later = read_burst_facts(str(library_dir / "trip" / "IMG_0004.JPG"))
    assert later.time is not None and abs(later.time - facts.time - 0.1) < 1e-6
    plain = read_burst_facts(str(library_dir / "trip" / "DSC_0002.JPG"))
    assert plain.burst_id is None and not plain.subsec and plain.time is not None
    # Google Camera's XMP, written by exiv2 into a copy
    pixel = tmp_path / "pixel.jpg"
    shutil.copy(library_dir / "trip" / "DSC_0002.JPG", pixel)
    pyexiv2.registerNs(GCAMERA_NS, "GCamera")
    with pyexiv2.Image(str(pixel)) as img:
        img.modify_xmp({"Xmp.GCamera.BurstID": "a1b2c3d4-burst"})
    google = read_burst_facts(str(pixel))
    assert google.burst_id == "a1b2c3d4-burst" and google.source == "gcamera"
    # an iPhone's HEIC: its EXIF, MakerNote included, read through pillow-heif
    register_heif()
    with Image.open(library_dir / "trip" / "IMG_0003.JPG") as jpeg:
        jpeg.save(tmp_path / "IMG_0003.HEIC", exif=jpeg.getexif().tobytes())
    assert read_burst_facts(str(tmp_path / "IMG_0003.HEIC")) == facts
    # malformed notes and packets, and a file that is not a photo: no id, never an error
    assert apple_burst_uuid(apple_makernote("x")[:20]) is None and apple_burst_uuid(b"Apple iOS\x00\x00\x01XX") is None
    assert gcamera_burst_id(b"<x:xmpmeta BurstID unclosed") is None
    (tmp_path / "notes.jpg").write_text("not a photo")
    assert read_burst_facts(str(tmp_path / "notes.jpg")) == type(facts)()


def test_scan_stacks_bursts_with_the_sharpest_frame_as_cover(library_dir: Path, catalog_dir: Path) -> None:
    before = {p: p.read_bytes() for p in library_dir.rglob("*.JPG")}
    lib = _library(catalog_dir)
    summary = lib.scan([library_dir])
    assert summary.counts["failed"] == 0 and not summary.plugin_problems
    stacks = _stacks(lib)
    iphone = [f"IMG_{k:04d}.JPG" for k in range(1, 9)]
    canon = [f"CAN_{k:04d}.JPG" for k in range(1, 6)]
    pixel = ["PXL_0001.JPG", "PXL_0002.JPG"]
    assert sorted(stacks.values()) == sorted([iphone, canon, ["DSC_0002.JPG", "DSC_0003.JPG"], pixel])
    assert stacks["PXL_0001.JPG"] == pixel  # the unblurred frame
    assert stacks[_sharpest(lib, iphone)] == iphone and _sharpest(lib, iphone) == "IMG_0006.JPG"  # unblurred
    assert stacks[_sharpest(lib, canon)] == canon and _sharpest(lib, canon) == "CAN_0004.JPG"
    assert {s.name for s in lib.stack_kinds} >= {"burst"}
    assert {p: p.read_bytes() for p in library_dir.rglob("*.JPG")} == before  # originals untouched
    # idempotent: an unchanged rescan writes nothing, and regrouping from scratch finds the same
    again = lib.scan([library_dir])
    assert again.counts["unchanged"] == len(before) and _stacks(lib) == stacks
    assert regroup(lib.catalog, rules_from(lib.config.section("bursts")))[1] == 0
    assert regroup(lib.catalog, rules_from(lib.config.section("bursts")), {str(library_dir / "trip") + "/"})[1] == 0


def test_moved_deleted_and_lone_frames_regroup_on_rescan(library_dir: Path, catalog_dir: Path) -> None:
    lib = _library(catalog_dir)
    lib.scan([library_dir])
    trip, elsewhere = library_dir / "trip", library_dir / "elsewhere"
    elsewhere.mkdir()
    shutil.move(trip / "IMG_0006.JPG", elsewhere / "IMG_0006.JPG")  # the cover moves away, nothing else changes
    assert lib.scan([library_dir]).counts["moved"] == 1
    rest = [f"IMG_{k:04d}.JPG" for k in (1, 2, 3, 4, 5, 7, 8)]
    stacks = _stacks(lib)
    assert stacks[_sharpest(lib, rest)] == rest  # the frames left behind got a new cover
    rows = {Path(r["path"]).name: r for r in lib.catalog.rows(None, ["path", "burst_cover", "missing"])}
    assert rows["IMG_0006.JPG"]["burst_cover"] is None  # alone in its new folder

    cover = _sharpest(lib, rest)
    (trip / cover).unlink()  # the new cover is deleted
    (trip / "DSC_0003.JPG").unlink()  # leaves DSC_0002 alone
    assert lib.scan([library_dir]).counts["deleted"] == 2
    rest.remove(cover)
    stacks = _stacks(lib)
    assert stacks[_sharpest(lib, rest)] == rest and cover not in stacks
    assert "DSC_0002.JPG" not in {n for m in stacks.values() for n in m}
    rows = {Path(r["path"]).name: r for r in lib.catalog.rows(None, ["path", "burst_cover", "missing"])}
    assert rows[cover]["missing"] and rows[cover]["burst_cover"] is None


def test_copies_are_not_frames() -> None:
    """Rows as the catalog holds them: a copy at the very same moment, or resized, is no burst frame."""

    def row(name: str, at: float, phash: str = "0f0f0f0f0f0f0f0f", width: int = 4000) -> dict[str, Any]:
        return {"id": name, "path": f"/a/{name}", "kind": "image", "camera_make": "Canon", "camera_model": "R6",
                "width": width, "height": 3000, "phash": phash, "sharpness": 1.0, "burst_time": at,
                "burst_subsec": True}  # fmt: skip

    assert len(bursts([row("IMG_1.JPG", 5.1), row("IMG_1 copy.JPG", 5.1)], Rules())) == 0
    assert len(bursts([row("IMG_1.JPG", 5.1), row("IMG_2.JPG", 5.2, width=2000)], Rules())) == 0
    assert len(bursts([row("IMG_1.JPG", 5.1), row("IMG_2.JPG", 5.2)], Rules())) == 1
    unordered = [{**row("IMG_7.JPG", 5.0), "burst_subsec": False}, {**row("IMG_9.JPG", 5.0), "burst_subsec": False}]
    assert len(bursts(unordered, Rules())) == 0  # without sub-seconds: not numbered one after the other
    assert len(bursts([unordered[0], {**unordered[1], "path": "/a/IMG_8.JPG"}], Rules())) == 1


def test_settings_regroup_without_rereading_files(library_dir: Path, catalog_dir: Path) -> None:
    _library(catalog_dir).scan([library_dir])
    strict = _library(catalog_dir, **{"bursts.max_gap": 0.1})  # the Canon's 0.15 s gaps no longer count
    summary = strict.scan([library_dir])
    assert summary.timings["bursts"].items == 0
    assert not any(name.startswith("CAN") for name in _stacks(strict))
    assert any(name.startswith("IMG") for name in _stacks(strict))  # a recorded id needs no gap


def test_cover_by_aesthetic_score_when_asked() -> None:
    rows = [{"id": f"f{k}", "path": f"/a/f{k}.jpg", "kind": "image", "burst_id": "b", "sharpness": 10.0 * k,
             "aesthetic": 1.0 - 0.1 * k} for k in range(3)]  # fmt: skip
    assert bursts(rows, Rules())[0][0]["id"] == "f2"
    assert bursts(rows, Rules(cover="aesthetic"))[0][0]["id"] == "f0"
