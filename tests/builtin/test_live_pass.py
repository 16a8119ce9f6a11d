"""The live pass end to end with the real scanner: a HEIC + MOV pair by content identifier (different names), a
pair by name and capture time, a same-named MOV ten minutes off (not paired), Google motion photos of both XMP
flavours (the embedded video found and described), a motion photo whose XMP is wrong (reported, the scan goes on),
and stacks that come apart when a member goes away; no file is ever written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chronicon.builtin.live import pair_live_photos
from chronicon.cli.main import cli
from chronicon.search.filters import Filters
from livefactory import make_live_mov, make_motion_photo, make_still

CID = "0C6E5F3A-9B1D-4E27-8F43-5A2D7C9B1E60"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    # 1. matching content identifiers, different stems (an export renamed the MOV), times far apart
    make_still(root / "IMG_4001.HEIC", content_id=CID, taken_at="2023:05:01 09:00:00")
    make_live_mov(root / "exported_clip.MOV", content_id=CID, creation_time="2023-05-02T18:00:00Z")
    # 2. no identifiers: same stem (any case), the still taken 1.5 s into the 2 s MOV
    make_still(root / "IMG_4002.HEIC", content_id=None, taken_at="2023:05:01 12:00:01")
    make_live_mov(root / "img_4002.mov", content_id=None, creation_time="2023-05-01T11:59:59.500000Z")
    # 3. same stem, ten minutes apart: two separate assets
    make_still(root / "IMG_4003.HEIC", content_id=None, taken_at="2023:05:01 12:10:00")
    make_live_mov(root / "IMG_4003.MOV", content_id=None, creation_time="2023-05-01T12:00:00Z")
    # 4. Google motion photos, new and old XMP; 5. one whose XMP points at the wrong place
    make_motion_photo(root / "PXL_0001.MP.jpg", work, flavour="MotionPhoto")
    make_motion_photo(root / "MVIMG_0002.jpg", work, flavour="MicroVideo")
    make_motion_photo(root / "broken_motion.jpg", work, claim_shift=333)
    return root


def _by_name(lib: Any) -> dict[str, dict[str, Any]]:
    return {Path(r["path"]).name: r for r in lib.catalog.rows()}


def test_scan_pairs_live_photos_and_finds_motion_videos(make_library: Any, library_dir: Path) -> None:
    before = _snapshot(library_dir)
    lib = make_library()
    summary = lib.scan([library_dir])
    assert summary.counts["new"] == 9 and summary.counts["failed"] == 0
    rows = _by_name(lib)
    still, mov = rows["IMG_4001.HEIC"], rows["exported_clip.MOV"]
    assert still["live_content_id"] == mov["live_content_id"] == CID
    assert still["live_cover"] == mov["live_cover"] == still["id"] and still["motion_part"] == mov["id"]
    assert mov["kind"] == "video" and mov["motion_part"] is None
    still, mov = rows["IMG_4002.HEIC"], rows["img_4002.mov"]
    assert still["live_content_id"] is None and still["taken_at"] and mov["duration"]
    assert still["live_cover"] == mov["live_cover"] == still["id"] and still["motion_part"] == mov["id"]
    for name in ("IMG_4003.HEIC", "IMG_4003.MOV"):  # ten minutes apart
        assert rows[name]["live_cover"] is None and rows[name]["motion_part"] is None
    for name in ("PXL_0001.MP.jpg", "MVIMG_0002.jpg"):
        photo = rows[name]
        assert photo["kind"] == "image" and photo["status"] == "ok" and photo["motion_part"] == "embedded"
        assert photo["live_motion_offset"] > 0 and photo["live_motion_length"] > 0
        assert photo["live_motion_offset"] + photo["live_motion_length"] == (library_dir / name).stat().st_size
        assert photo["live_motion_audio"] is True and abs(photo["live_motion_duration"] - 1.5) < 0.2
        assert photo["live_cover"] is None and photo["live_problem"] is None
    broken = rows["broken_motion.jpg"]
    assert broken["status"] == "ok" and broken["motion_part"] is None and broken["live_motion_offset"] is None
    assert "no MP4 starts there" in broken["live_problem"]
    assert any(k.name == "live" and k.column == "live_cover" and k.owner == "live" for k in lib.stack_kinds)
    assert _snapshot(library_dir) == before

    again = lib.scan([library_dir])  # idempotent: nothing re-paired
    assert not any("Live Photos" in note for note in again.notes)
    assert {n: (r["live_cover"], r["motion_part"]) for n, r in _by_name(lib).items()} == {
        n: (r["live_cover"], r["motion_part"]) for n, r in rows.items()
    }


def test_stacks_follow_members_added_and_removed(make_library: Any, library_dir: Path, tmp_path: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])
    (library_dir / "img_4002.mov").unlink()  # the MOV goes: the still stands alone again
    lib.scan([library_dir])
    rows = _by_name(lib)
    assert rows["IMG_4002.HEIC"]["live_cover"] is None and rows["IMG_4002.HEIC"]["motion_part"] is None
    assert rows["IMG_4001.HEIC"]["live_cover"] == rows["IMG_4001.HEIC"]["id"]  # the other pair is untouched
    make_live_mov(library_dir / "IMG_4002.MOV", content_id=None, creation_time="2023-05-01T12:00:00Z")
    lib.scan([library_dir])  # a new MOV pairs with the still it belongs to
    rows = _by_name(lib)
    still, mov = rows["IMG_4002.HEIC"], rows["IMG_4002.MOV"]
    assert still["live_cover"] == mov["live_cover"] == still["id"] and still["motion_part"] == mov["id"]


def test_pairing_rules_prefer_identifiers_and_need_close_times() -> None:
    def row(i: str, name: str, kind: str, taken: str | None, cid: str | None = None, dur: float | None = None,
            folder: str = "/p") -> dict[str, Any]:  # fmt: skip
        stem = name.rsplit(".", 1)[0].lower()
        return {"id": i, "path": f"{folder}/{name}", "kind": kind, "taken_at": taken, "duration": dur,
                "live_content_id": cid, "live_key": f"{folder}/{stem}", "missing": None}  # fmt: skip

    rows = [
        row("s1", "A.HEIC", "image", "2023-05-01T12:00:01+02:00", cid="X"),
        row("m1", "A.MOV", "video", "2023-05-01T10:00:00+00:00", cid="Y", dur=2.0),  # names match, ids differ
        row("m2", "other.MOV", "video", None, cid="X", dur=2.5),
        row("s3", "B.JPG", "image", "2023-05-01T12:00:01"),  # no offset: wall clocks compared
        row("m3", "b.mov", "video", "2023-05-01T12:00:00+02:00", dur=2.0),
        row("s4", "C.JPG", "image", "2023-05-01T12:00:01+00:00"),
        row("m4", "C.MOV", "video", "2023-05-01T12:00:00+00:00", dur=30.0),  # too long for a Live Photo
        row("s5", "D.JPG", "image", "2023-05-01T12:00:01+00:00", folder="/q"),
        row("m5", "D.MOV", "video", "2023-05-01T12:00:00+00:00", dur=2.0, folder="/r"),  # another folder
        row("s6", "E.JPG", "image", None),
        row("m6", "E.MOV", "video", "2023-05-01T12:00:00+00:00", dur=2.0),  # the still's time unknown
    ]
    assert pair_live_photos(rows) == {"m2": "s1", "m3": "s3"}


def test_undecodable_names_pair_too(make_library: Any, tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    still, mov = os.fsencode(root) + b"/caf\xe9.HEIC", os.fsencode(root) + b"/caf\xe9.MOV"
    make_still(Path(os.fsdecode(still)), content_id=None, taken_at="2023:05:01 12:00:01")
    make_live_mov(Path(os.fsdecode(mov)), content_id=None, creation_time="2023-05-01T12:00:00Z")
    lib = make_library()
    assert lib.scan([root]).counts["failed"] == 0
    rows = {r["kind"]: r for r in lib.catalog.rows()}
    assert rows["video"]["live_cover"] == rows["image"]["id"] == rows["image"]["live_cover"]


def test_with_motion_flag_reaches_the_filters(make_library: Any, library_dir: Path) -> None:
    assert Filters().motion_parts is False and Filters(motion_parts=True).to_json() == {"motion_parts": True}
    lib = make_library()
    assert lib.filters(kind="video", motion_parts=True).motion_parts is True
    result = CliRunner().invoke(cli, ["search", "--help"])
    assert result.exit_code == 0 and "--with-motion" in result.output


def test_browse_shows_a_live_photo_once_and_its_motion_only_when_asked(make_library: Any, library_dir: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])
    names = [Path(h.path).name for h in lib.browse(limit=50)]
    assert "IMG_4001.HEIC" in names and "exported_clip.MOV" not in names and "img_4002.mov" not in names
    assert "IMG_4003.MOV" in names  # ten minutes off: a video of its own
    shown = next(h for h in lib.browse(limit=50) if Path(h.path).name == "IMG_4001.HEIC")
    assert shown.stack is not None and shown.stack["kind"] == "live" and shown.stack["size"] == 2
    videos = [Path(h.path).name for h in lib.browse(limit=50, kind="video")]
    assert videos == ["IMG_4003.MOV"]  # the motion parts are not videos of their own ...
    asked = {Path(h.path).name for h in lib.browse(limit=50, kind="video", motion_parts=True)}
    assert asked == {"IMG_4003.MOV", "exported_clip.MOV", "img_4002.mov"}  # ... unless asked
    row = lib.info(library_dir / "exported_clip.MOV")
    stack = lib.stack_of(row)
    assert stack is not None and [Path(m["path"]).name for m in stack["members"]] == [
        "IMG_4001.HEIC",
        "exported_clip.MOV",
    ]


def test_a_motion_photos_speech_and_shots_belong_to_the_photo(tmp_path: Path, sample_photos: Path,
                                                              model_cache: Path) -> None:  # fmt: skip
    pytest.importorskip("faster_whisper")
    pytest.importorskip("ai_edge_litert")
    from chronicon.library import Library
    from ci_skips import provided_reason
    from mediafactory import add_audio, espeak_available, make_slideshow, make_speech_audio

    if not espeak_available():
        pytest.skip(provided_reason("espeak-ng is not installed: the motion photo speaks (.ci/run installs it)"))
    work, root = tmp_path / "work", tmp_path / "library"
    work.mkdir()
    root.mkdir()
    cuts = make_slideshow(work / "silent.mp4", [sample_photos / "chelsea.jpg", sample_photos / "coffee.jpg"],
                          seconds_each=2.0, fps=12)  # fmt: skip
    make_speech_audio("Happy birthday to you.", work / "speech.wav")
    add_audio(work / "silent.mp4", work / "speech.wav", work / "clip.mp4", start=0.3)
    make_motion_photo(root / "PXL_0003.MP.jpg", work, video=(work / "clip.mp4").read_bytes())
    before = _snapshot(root)
    settings = {"clip.enabled": False, "tags.enabled": True, "ocr.enabled": False, "caption.enabled": False,
                "transcribe.enabled": True, "model_cache": str(model_cache)}  # fmt: skip
    library = Library(tmp_path / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([root])
    assert summary.counts["new"] == 1 and not summary.failures, summary.failures
    row = library.info(root / "PXL_0003.MP.jpg")
    assert row["kind"] == "image" and row["motion_part"] == "embedded"
    assert "birthday" in (row["transcript_text"] or "").lower(), row["transcript"]
    import json

    shots = json.loads(row["segments"])
    assert len(shots) == 2 and shots[1]["t_start"] == pytest.approx(cuts[0], abs=0.35)
    hits = library.search("birthday", limit=3)
    assert hits and Path(hits[0].path).name == "PXL_0003.MP.jpg"
    assert any("said" in why for why in hits[0].why), hits[0].why
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path / "no-config")})
    result = runner.invoke(cli, ["--catalog", str(tmp_path / "catalog"), "transcript", str(root / "PXL_0003.MP.jpg")])
    assert result.exit_code == 0 and "birthday" in result.output.lower(), result.output
    assert _snapshot(root) == before  # nothing extracted next to the original, nothing written into it
