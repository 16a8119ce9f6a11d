"""A real camera roll end to end through the `chronicon` command: a RAW + JPEG pair and a lone RAW, an iPhone Live
Photo (HEIC + MOV by content identifier) and an Android motion photo, a burst, a keyword only a sidecar has, a
date only GPS recorded, a JPEG XL and an HDR HEIC, and a broken RAW. Each is indexed, searched and shown once, as
people expect; nothing in the folder is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("rawpy")
pytest.importorskip("pyexiv2")

from PIL import Image

CLI = [sys.executable, "-m", "chronicon"]
CID = "7A3D1C2B-5E4F-4A8B-9C0D-1E2F3A4B5C6D"
BURST = "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF"
SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
   xmp:Rating="4"><dc:subject><rdf:Bag><rdf:li>zanzibarite</rdf:li></rdf:Bag></dc:subject></rdf:Description>
</rdf:RDF></x:xmpmeta>"""


def run(*args: str, env: dict[str, str], codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in codes, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def roll(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    import pyexiv2

    from burstfactory import APPLE, apple_makernote, frame, save
    from livefactory import make_live_mov, make_motion_photo, make_still
    from rawfactory import make_dng

    base = tmp_path_factory.mktemp("camera-roll")
    work, root = base / "work", base / "DCIM"
    work.mkdir()
    (root / "camera").mkdir(parents=True)
    (root / "phone").mkdir()
    cat = Image.open(sample_photos / "chelsea.jpg").convert("RGB").resize((450, 300))  # (a Bayer mosaic: even sides)
    # a RAW + JPEG pair of the same shot, and a lone RAW
    cat.save(root / "camera" / "IMG_0100.JPG", quality=90,
             exif=_exif("2024:06:01 10:00:00"))  # fmt: skip
    make_dng(root / "camera" / "IMG_0100.dng", cat, taken_at="2024:06:01 10:00:00")
    make_dng(root / "camera" / "IMG_0101.dng", Image.open(sample_photos / "coffee.jpg").convert("RGB"))
    (root / "camera" / "IMG_0102.dng").write_bytes((root / "camera" / "IMG_0101.dng").read_bytes()[:3000])
    # an iPhone Live Photo (the MOV renamed by an export), an Android motion photo, an iPhone burst of three
    make_still(root / "phone" / "IMG_0200.HEIC", content_id=CID, taken_at="2024:06:02 09:00:00")
    make_live_mov(root / "phone" / "export_0200.MOV", content_id=CID, creation_time="2024-06-02T09:00:00Z")
    make_motion_photo(root / "phone" / "PXL_0001.MP.jpg", work)
    horse = Image.open(sample_photos / "horse.jpg").convert("RGB")
    for k in range(3):
        save(root / "phone" / f"IMG_03{k:02d}.JPG", frame(horse, k, blur=0.0 if k == 1 else 1.5), APPLE,
             "2024:06:03 12:00:00", f"{k}00", apple_makernote(BURST))  # fmt: skip
    # a keyword only the sidecar has; a photo whose only date is GPS's; a JPEG XL; an HDR HEIC (PQ)
    shutil.copy(sample_photos / "rocket.jpg", root / "camera" / "rocket.jpg")
    (root / "camera" / "rocket.xmp").write_text(SIDECAR)
    Image.open(sample_photos / "astronaut.jpg").save(root / "camera" / "gps_only.jpg", quality=90)
    with pyexiv2.Image(str(root / "camera" / "gps_only.jpg")) as img:
        img.modify_exif({"Exif.GPSInfo.GPSDateStamp": "2019:03:04", "Exif.GPSInfo.GPSTimeStamp": "15/1 30/1 0/1"})
    from chronicon.media.photo import register_heif

    register_heif()  # (pillow-heif's and pillow-jxl-plugin's openers and savers)
    Image.open(sample_photos / "coffee.jpg").save(root / "camera" / "coffee.jxl", quality=90)
    Image.open(sample_photos / "moon.jpg").convert("RGB").save(
        root / "phone" / "hdr.heic", quality=90, color_primaries=9, transfer_characteristics=16, matrix_coefficients=9
    )
    before = _snapshot(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(CHRONICON_CATALOG=str(base / "catalog"), CHRONICON_MODEL_CACHE=str(model_cache),
               CHRONICON_CLIP__ENABLED="false", CHRONICON_TRANSCRIBE__ENABLED="false",
               CHRONICON_CAPTION__ENABLED="false", CHRONICON_OCR__ENABLED="false", HF_HUB_OFFLINE="1",
               XDG_CONFIG_HOME=str(base / "no-config"))  # fmt: skip
    scan = json.loads(run("scan", "--json", str(root), env=env, codes=(1,)).stdout)  # the broken RAW: exit 1
    return root, env, scan, before


def _exif(when: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = when
    return exif


def _info(path: Path, env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(run("info", str(path), "--json", env=env).stdout))


def test_every_kind_is_indexed_and_the_broken_raw_reported(roll: Any) -> None:
    root, env, scan, before = roll
    assert scan["counts"]["new"] == 13 and scan["counts"]["failed"] == 1, scan["counts"]
    failed = {Path(f["path"]).name for f in scan["failures"]}
    assert failed == {"IMG_0102.dng"}
    raw = _info(root / "camera" / "IMG_0100.dng", env)
    assert raw["format"] == "dng" and raw["status"] == "ok" and raw["thumbnail"] and raw["labels"]
    assert _info(root / "camera" / "coffee.jxl", env)["format"] == "jxl"
    assert _info(root / "phone" / "hdr.heic", env)["status"] == "ok"
    gps = _info(root / "camera" / "gps_only.jpg", env)
    assert gps["taken_at"].startswith("2019-03-04T15:30:00") and gps["taken_at_source"] == "gps"
    assert _snapshot(root) == before  # originals and sidecars untouched


def test_a_raw_and_its_jpeg_are_one_result(roll: Any) -> None:
    root, env, _, _ = roll
    out = json.loads(run("search", "a cat", "--json", "-n", "5", env=env).stdout)
    names = [Path(r["path"]).name for r in out["results"]]
    assert names[0] == "IMG_0100.JPG" and "IMG_0100.dng" not in names, names
    stack = out["results"][0]["stack"]
    assert stack["kind"] == "raw-pair" and stack["size"] == 2
    expanded = json.loads(run("search", "a cat", "--json", "-n", "5", "--expand-stacks", env=env).stdout)
    assert {"IMG_0100.JPG", "IMG_0100.dng"} <= {Path(r["path"]).name for r in expanded["results"]}
    text = run("info", str(root / "camera" / "IMG_0100.dng"), env=env).stdout
    assert "RAW + JPEG" in text and "IMG_0100.JPG (shown)" in text, text


def test_a_live_photo_a_motion_photo_and_a_burst_are_shown_once(roll: Any) -> None:
    root, env, _, _ = roll
    mov = _info(root / "phone" / "export_0200.MOV", env)
    still = _info(root / "phone" / "IMG_0200.HEIC", env)
    assert mov["stack"]["kind"] == "live" and mov["stack"]["cover"] == still["id"]
    assert _info(root / "phone" / "PXL_0001.MP.jpg", env)["motion_part"] == "embedded"
    videos = run("search", "anything at all", "--kind", "video", "-f", "--all", env=env).stdout.split()
    assert not any(v.endswith("export_0200.MOV") for v in videos)  # the Live Photo's motion is not a video alone
    asked = run("search", "anything at all", "--kind", "video", "--with-motion", "-f", "--all", env=env).stdout
    assert "export_0200.MOV" in asked
    horse = json.loads(run("search", "a horse", "--json", "-n", "10", env=env).stdout)["results"]
    frames = [r for r in horse if Path(r["path"]).name.startswith("IMG_03")]
    assert len(frames) == 1 and frames[0]["stack"]["kind"] == "burst" and frames[0]["stack"]["size"] == 3
    assert Path(frames[0]["path"]).name == "IMG_0301.JPG"  # the sharpest frame is the cover


def test_a_keyword_only_the_sidecar_has_finds_its_photo(roll: Any) -> None:
    _, env, _, _ = roll
    found = run("search", "zanzibarite", "-f", env=env).stdout.split()
    assert found and Path(found[0]).name == "rocket.jpg"
    rated = run("search", "a rocket", "--rating", "4", "-f", env=env).stdout.split()
    assert [Path(p).name for p in rated] == ["rocket.jpg"]
