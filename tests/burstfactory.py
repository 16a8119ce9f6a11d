"""Frames of a burst as cameras write them: real photos drifting and blurring a little, with EXIF times and ids."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pyexiv2
from PIL import Image, ImageFilter

from chronicon.media.burst_ids import GCAMERA_NS

APPLE = ("Apple", "iPhone 15 Pro")
CANON = ("Canon", "Canon EOS R6")
NIKON = ("NIKON CORPORATION", "NIKON Z 6")
PIXEL = ("Google", "Pixel 8")


def apple_makernote(burst: str) -> bytes:
    """An Apple MakerNote as iPhones write it: "Apple iOS\\0", version 1, "MM", an IFD whose offsets count from
    the note's first byte; tag 0x0001 (the note's version) and 0x000B (BurstUUID, ASCII)."""
    value = burst.encode() + b"\x00"
    entries = struct.pack(">HHII", 0x0001, 9, 1, 14)
    entries += struct.pack(">HHII", 0x000B, 2, len(value), 16 + 2 * 12 + 4)
    return b"Apple iOS\x00\x00\x01MM" + struct.pack(">H", 2) + entries + b"\x00\x00\x00\x00" + value


def frame(source: Image.Image, step: int, blur: float = 0.0) -> Image.Image:
    """Frame `step` of a burst: the framing drifts 1 % per frame (a hand-held camera), a little motion blur."""
    width, height = source.size
    dx, dy = int(width * 0.01 * step), int(height * 0.006 * step)
    cut = source.crop((dx, dy, dx + int(width * 0.9), dy + int(height * 0.9)))
    return cut.filter(ImageFilter.GaussianBlur(blur)) if blur else cut


def save(path: Path, image: Image.Image, camera: tuple[str, str], when: str, subsec: str | None = None,
         note: bytes | None = None) -> Path:  # fmt: skip
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = camera
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = when
    if subsec is not None:
        ifd[0x9291] = subsec
    if note is not None:
        ifd[0x927C] = note
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90, exif=exif)
    return path


def burst_library(root: Path, sample_photos: Path) -> Path:
    """A folder `trip` of real bursts and near misses (see tests/builtin/test_bursts.py), under `root`."""
    trip = root / "trip"
    astronaut = Image.open(sample_photos / "astronaut.jpg").convert("RGB")
    chelsea = Image.open(sample_photos / "chelsea.jpg").convert("RGB")
    burst = str(uuid.UUID(int=0x6F0E4E6A1C474E0C9C772E9D0B3B6B01)).upper()
    for k in range(8):  # an iPhone burst at 10 frames/s; frame 5 is the steadiest (no blur)
        image = frame(astronaut, k, blur=0.0 if k == 5 else 1.0 + 0.2 * k)
        save(trip / f"IMG_{k + 1:04d}.JPG", image, APPLE, "2024:05:01 10:00:00", f"{k}00", apple_makernote(burst))
    for k in range(5):  # a camera burst without an id, 0.15 s apart, straddling a second; frame 3 is the sharpest
        image = frame(chelsea, k, blur=0.0 if k == 3 else 1.2)
        moment, sub = divmod(85 + 15 * k, 100)
        save(trip / f"CAN_{k + 1:04d}.JPG", image, CANON, f"2024:05:01 10:05:{moment:02d}", f"{sub:02d}")
    # the same camera, the same second, other scenes: not a burst (nor part of the one above)
    save(trip / "CAN_0101.JPG", Image.open(sample_photos / "coffee.jpg"), CANON, "2024:05:01 10:05:01", "20")
    save(trip / "CAN_0102.JPG", Image.open(sample_photos / "rocket.jpg"), CANON, "2024:05:01 10:07:00", "10")
    save(trip / "CAN_0103.JPG", Image.open(sample_photos / "horse.jpg"), CANON, "2024:05:01 10:07:00", "40")
    # another camera, same scene, same moment: not in the Canon's burst
    save(trip / "DSC_0001.JPG", frame(chelsea, 2), NIKON, "2024:05:01 10:05:01", "15")
    # no sub-seconds: the same second and a very close pHash is a burst; two seconds later is not
    save(trip / "DSC_0002.JPG", frame(astronaut, 0), NIKON, "2024:05:01 11:00:00")
    save(trip / "DSC_0003.JPG", frame(astronaut, 1, blur=1.0), NIKON, "2024:05:01 11:00:00")
    save(trip / "DSC_0004.JPG", frame(astronaut, 2, blur=1.0), NIKON, "2024:05:01 11:00:02")
    # a Pixel burst: Google Camera's XMP id (written by exiv2) groups its frames even 3 s apart
    coffee = Image.open(sample_photos / "coffee.jpg").convert("RGB")
    pyexiv2.registerNs(GCAMERA_NS, "GCamera")
    for k, when in enumerate(("12:00:00", "12:00:03")):
        path = save(trip / f"PXL_{k + 1:04d}.JPG", frame(coffee, k, blur=float(k)), PIXEL, f"2024:05:01 {when}", "50")
        with pyexiv2.Image(str(path)) as img:
            img.modify_xmp({"Xmp.GCamera.BurstID": "4f1c2a7e-pixel-burst"})
    return root
