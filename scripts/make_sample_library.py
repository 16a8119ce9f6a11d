"""Generate the demo's sample library: real photos, photos with EXIF and GPS, videos with sound, broken files."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mediafactory import (
    add_audio,
    espeak_available,
    make_bomb_png,
    make_heic,
    make_jpeg,
    make_mp4,
    make_png,
    make_slideshow,
    make_speech_audio,
    make_text_as,
    make_truncated,
)

PHOTOS = [
    # name, colour, size, GPS (lat, lon, alt), taken
    ("berlin.jpg", (200, 40, 40), (640, 480), (52.5163, 13.3777, 34.0), "2021:07:04 15:30:00"),
    ("sydney.jpg", (30, 90, 200), (800, 600), (-33.8568, 151.2153, 5.0), "2022:01:15 09:12:44"),
    ("reykjavik.jpg", (220, 220, 230), (600, 800), (64.1466, -21.9426, 20.0), "2023:03:02 18:01:00"),
    ("no-gps.jpg", (60, 160, 60), (320, 240), None, "2020:12:24 20:00:00"),
]


# Real photographs that scikit-image ships (public domain / CC0, see skimage.data), for the search demo.
REAL_PHOTOS = {  # scikit-image name -> neutral camera-style file name (search must go by content, not names)
    "chelsea": "IMG_0001.jpg",  # a cat
    "coffee": "IMG_0002.jpg",  # a cup of coffee
    "rocket": "IMG_0003.jpg",  # a rocket on its launch pad
    "horse": "IMG_0004.jpg",  # a horse (silhouette)
    "camera": "IMG_0005.jpg",  # a photographer with a camera on a tripod
    "astronaut": "IMG_0006.jpg",  # an astronaut's portrait
    "coins": "IMG_0007.jpg",  # old coins
    "moon": "IMG_0008.jpg",  # the moon's surface
    "page": "IMG_0009.jpg",  # a printed page of a book (text the ocr pass reads)
}


def write_real_photos(folder: Path) -> int:
    """Save the scikit-image sample photos under neutral file names (search must find them by content)."""
    try:
        import numpy as np
        from PIL import Image
        from skimage import data
    except ImportError:
        print("scikit-image is not installed: the sample library has no real photos (pip install scikit-image)")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for source, name in REAL_PHOTOS.items():
        pixels = getattr(data, source)()
        if pixels.dtype != np.uint8:
            pixels = (pixels * 255).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(folder / name, quality=92)
    # A near-duplicate for `chronicon duplicates`: the moon photo at half size, re-encoded (a shared copy).
    with Image.open(folder / REAL_PHOTOS["moon"]) as moon:
        moon.resize((moon.width // 2, moon.height // 2)).save(folder / "IMG_0008-shared.jpg", quality=70)
    # The camera's RAW beside the cat's JPEG (a real DNG: Bayer mosaic + JPEG preview): one result, a RAW + JPEG pair.
    from rawfactory import make_dng

    with Image.open(folder / REAL_PHOTOS["chelsea"]) as cat:
        make_dng(folder / "IMG_0001.dng", cat.convert("RGB").crop((0, 0, cat.width // 2 * 2, cat.height // 2 * 2)),
                 taken_at=None)  # fmt: skip
    return len(REAL_PHOTOS)


SPEECH = "Happy birthday to you. Let us raise a glass to the bride and groom."


def write_real_video(folder: Path, photos: Path) -> None:
    """A clip of three of the real photos, 3 s each (a cup of coffee, the cat, the rocket), with synthesised
    speech when espeak-ng is installed: the demo finds the cat at 00:00:03 and the toast by what is said."""
    pictures = [photos / REAL_PHOTOS[name] for name in ("coffee", "chelsea", "rocket")]
    if not all(p.exists() for p in pictures):
        return
    target = folder / "VID_0001.mp4"
    if not espeak_available():
        make_slideshow(target, pictures, seconds_each=3.0)
        print("espeak-ng is not installed: the sample video has no speech")
        return
    with tempfile.TemporaryDirectory() as tmp:
        silent, wav = Path(tmp) / "silent.mp4", Path(tmp) / "speech.wav"
        make_slideshow(silent, pictures, seconds_each=3.0)
        make_speech_audio(SPEECH, wav)
        add_audio(silent, wav, target, start=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    root: Path = args.folder
    (root / "photos").mkdir(parents=True, exist_ok=True)
    (root / "videos").mkdir(exist_ok=True)
    (root / "broken").mkdir(exist_ok=True)
    for name, color, size, gps, taken in PHOTOS:
        make_jpeg(root / "photos" / name, color=color, size=size, gps=gps, taken_at=taken)
    make_png(root / "photos" / "screenshot.png", size=(400, 300))
    write_real_photos(root / "real")
    write_real_video(root / "real", root / "real")
    make_heic(root / "photos" / "iphone.heic", size=(320, 240))
    make_mp4(root / "videos" / "beach.mp4", seconds=4.0, fps=24, size=(320, 180), cuts=[1.5, 3.0])
    make_mp4(root / "videos" / "party.mov", seconds=3.0, fps=30, size=(240, 320), rotation=90)
    make_mp4(root / "videos" / "silent.mkv", seconds=2.0, fps=25, size=(320, 240), audio=False)
    (root / "broken" / "empty.jpg").write_bytes(b"")
    make_text_as(root / "broken" / "notes-named-like-a-photo.jpg")
    make_bomb_png(root / "broken" / "bomb-30000x30000.png")
    make_jpeg(root / "broken" / "_whole.jpg", size=(400, 300))
    make_truncated(root / "broken" / "_whole.jpg", root / "broken" / "truncated.jpg", keep_fraction=0.4)
    (root / "broken" / "_whole.jpg").unlink()
    print(f"sample library written to {root}")


if __name__ == "__main__":
    main()
