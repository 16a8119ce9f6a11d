"""The `raw_pairs` pass: a DNG beside the JPEG of the same shot is one stack shown by the JPEG; both are indexed;
the pairing follows files added and removed later, and capture times keep different shots apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rawpy")
pytest.importorskip("tifffile")

from chronicon.analyzers.stacks import StackKind
from chronicon.builtin.raw_pairs import COLUMN, pair_covers, same_shot
from chronicon.hookspecs import hookimpl
from chronicon.plugins import PluginHost
from mediafactory import make_jpeg
from rawfactory import make_dng, real_photo

SHOT = "2021:07:04 15:30:00"


def _jpeg_of(path: Path, photo: Any, taken_at: str = SHOT) -> None:
    make_jpeg(path, size=photo.size, taken_at=taken_at, offset=None)
    photo.save(path, "JPEG", quality=90, exif=_exif_of(path))


def _exif_of(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        return img.getexif().tobytes()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """IMG_0001.JPG + IMG_0001.dng (one shot), a lone IMG_0002.DNG, and IMG_0003.jpg + .dng of different shots."""
    root = tmp_path / "photos"
    root.mkdir()
    cat, coffee = real_photo("chelsea", (300, 200)), real_photo("coffee", (300, 200))
    _jpeg_of(root / "IMG_0001.JPG", cat)
    make_dng(root / "IMG_0001.dng", cat, taken_at=SHOT)
    make_dng(root / "IMG_0002.DNG", coffee, taken_at="2021:07:04 15:31:00")
    _jpeg_of(root / "IMG_0003.jpg", coffee, taken_at="2021:07:05 09:00:00")
    make_dng(root / "IMG_0003.dng", cat, taken_at="2021:07:05 09:00:07")  # same name, another shot (7 s apart)
    return root


def test_scan_pairs_a_jpeg_and_its_dng(folder: Path, make_library: Any) -> None:
    library = make_library()
    summary = library.scan([folder])
    assert summary.counts["new"] == 5 and summary.failed == 0
    assert any("RAW + JPEG pairs: 1" in note for note in summary.notes)
    assert "raw-pair" in [k.name for k in library.stack_kinds]
    jpeg, raw = library.info(folder / "IMG_0001.JPG"), library.info(folder / "IMG_0001.dng")
    assert jpeg[COLUMN] == raw[COLUMN] == jpeg["id"]  # the JPEG is the cover, on both
    for row in (jpeg, raw):  # both fully indexed
        assert row["status"] == "ok" and row["thumbnail"] and row["phash"]
        assert row["taken_at"].startswith("2021-07-04T15:30:00")
    assert json.loads(raw["phases"])["content"]["status"] == "done"
    assert raw["format"] == "dng" and jpeg["format"] == "jpeg"
    assert library.info(folder / "IMG_0002.DNG")[COLUMN] is None  # alone
    assert library.info(folder / "IMG_0003.jpg")[COLUMN] is None  # same stem, 7 s apart: two shots
    assert library.info(folder / "IMG_0003.dng")[COLUMN] is None

    again = library.scan([folder])  # nothing changed: nothing rewritten
    assert not any("RAW + JPEG" in note for note in again.notes)


def test_removing_or_adding_one_side_updates_the_pair(folder: Path, make_library: Any) -> None:
    library = make_library(**{"scan.missing_grace_days": 0})
    library.scan([folder])
    (folder / "IMG_0001.JPG").unlink()
    summary = library.scan([folder])
    assert any("1 unpaired" in note for note in summary.notes)
    assert library.info(folder / "IMG_0001.dng")[COLUMN] is None
    # A JPEG of the lone DNG's shot arrives later (exported without EXIF: the stem decides).
    make_jpeg(folder / "img_0002.jpeg", exif=False)
    library.scan([folder])
    cover = library.info(folder / "img_0002.jpeg")
    assert library.info(folder / "IMG_0002.DNG")[COLUMN] == cover[COLUMN] == cover["id"]


def test_a_missing_jpeg_within_the_grace_period_unpairs_too(folder: Path, make_library: Any) -> None:
    library = make_library()  # missing files are kept 30 days, marked missing
    library.scan([folder])
    (folder / "IMG_0001.JPG").rename(folder.parent / "elsewhere.jpg")
    library.scan([folder])
    assert library.info(folder / "IMG_0001.dng")[COLUMN] is None


def test_the_pass_switched_off_writes_nothing(folder: Path, make_library: Any) -> None:
    library = make_library(**{"raw_pairs.enabled": False})
    library.scan([folder])
    assert "raw-pair" not in [k.name for k in library.stack_kinds]
    assert library.info(folder / "IMG_0001.dng").get(COLUMN) is None


def test_pair_covers_rules() -> None:
    rows = [
        {"id": "j", "path": "/a/IMG_1.JPG", "format": "jpeg", "taken_at": "2020-01-01T10:00:00+01:00"},
        {"id": "h", "path": "/a/IMG_1.HEIC", "format": "heif", "taken_at": "2020-01-01T10:00:00+01:00"},
        {"id": "r", "path": "/a/img_1.cr3", "format": "cr3", "taken_at": "2020-01-01T10:00:00.600000"},
        {"id": "d", "path": "/a/IMG_1.dng", "format": "dng", "taken_at": None},
        {"id": "o", "path": "/b/IMG_1.nef", "format": "nef", "taken_at": "2020-01-01T10:00:00"},  # other folder
        {"id": "p", "path": "/a/IMG_2.png", "format": "png", "taken_at": None},
        {"id": "q", "path": "/a/IMG_2.PNG.arw", "format": "arw", "taken_at": None},  # stem IMG_2.PNG
    ]
    assert pair_covers(rows) == {"j": "j", "r": "j", "d": "j"}  # the JPEG wins over the HEIC as the cover
    assert pair_covers(rows[1:]) == {"h": "h", "r": "h", "d": "h"}
    assert pair_covers(rows, max_seconds=0.5) == {"j": "j", "d": "j"}  # 0.6 s apart


def test_same_shot_times() -> None:
    assert same_shot("2020-01-01T10:00:00+01:00", "2020-01-01T09:00:00+00:00", 1.0)  # one instant
    assert not same_shot("2020-01-01T10:00:00+01:00", "2020-01-01T10:00:00+00:00", 1.0)
    assert same_shot("2020-01-01T10:00:00+01:00", "2020-01-01T10:00:00.5", 1.0)  # naive: the clock
    assert same_shot(None, "2020-01-01T10:00:00", 1.0) and same_shot("not a date", None, 1.0)
    assert not same_shot("2020-01-01T10:00:00", "2020-01-01T10:00:02", 1.0)


class _Clash:
    @hookimpl
    def chronicon_register_stacks(self) -> list[StackKind]:
        return [
            StackKind(name="raw-pair", column="other_column", label="again"),
            StackKind("gallery", "gallery_cover", "g"),
        ]


def test_the_stack_kind_is_registered_once() -> None:
    host = PluginHost()
    host.load(entry_points=False)
    host.pm.register(_Clash(), name="clash")
    kinds = host.stack_kinds()
    listed = [(k.name, k.column, k.owner, k.priority) for k in kinds]
    assert [k for k in listed if k[0] == "raw-pair"] == [("raw-pair", COLUMN, "raw_pairs", 10)]
    assert listed[-1] == ("gallery", "gallery_cover", None, 100)  # by priority, after the built-in kinds
    assert any(p.plugin == "clash" and "already taken" in p.error for p in host.problems)


def test_end_to_end_through_the_cli(folder: Path, tmp_path: Path) -> None:
    (folder / "IMG_0003.jpg").unlink()
    (folder / "IMG_0003.dng").unlink()
    (folder / "IMG_0004.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + b"\x07" * 300)  # broken RAW
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(CHRONICON_CATALOG=str(tmp_path / "catalog"), CHRONICON_TAGS__ENABLED="false",
               CHRONICON_CLIP__ENABLED="false", CHRONICON_TRANSCRIBE__ENABLED="false",
               CHRONICON_CAPTION__ENABLED="false")  # fmt: skip

    def cli(*args: str, code: int = 0) -> Any:
        proc = subprocess.run([sys.executable, "-m", "chronicon", *args], capture_output=True, text=True, env=env,
                              timeout=240)  # fmt: skip
        assert proc.returncode == code, proc.stderr
        return json.loads(proc.stdout)

    summary = cli("scan", str(folder), "--json", code=1)
    assert summary["counts"]["new"] == 3 and summary["counts"]["failed"] == 1
    assert "RAW" in summary["failures"][0]["reason"] and summary["failures"][0]["path"].endswith("IMG_0004.CR2")
    assert any("RAW + JPEG pairs: 1" in note for note in summary["notes"])
    jpeg = cli("info", str(folder / "IMG_0001.JPG"), "--json")
    raw = cli("info", str(folder / "IMG_0001.dng"), "--json")
    assert raw[COLUMN] == jpeg[COLUMN] == jpeg["id"]
    assert raw["format"] == "dng" and raw["camera_make"] == "Chronicon" and raw["thumbnail"]
