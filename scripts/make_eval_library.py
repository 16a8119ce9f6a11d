"""Write the search-evaluation library: real photographs that installed Python packages ship, under camera names.

    python scripts/make_eval_library.py OUT_DIR [--json]

Nothing is downloaded: every photo comes from a wheel already installed (scikit-image's `skimage.data`,
scikit-learn's sample images, matplotlib's sample data, ultralytics' assets). Each is decoded and saved as an
RGB JPEG (greyscale ones too) without metadata, under a camera-style name (IMG_0001.JPG, ...) in a fixed order
that has nothing to do with the subjects, so a search can only find a photo by what it shows. OUT_DIR/MANIFEST.json
maps each file name to its source. The names are fixed per source: a source whose package is missing is left
out (and reported) without renumbering the others, so evaluation/search_queries.yaml stays valid.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUALITY = 92

# File name -> source, in a fixed order unrelated to the subjects. The sources are "skimage.data.NAME" (the loader
# function, which reads the file scikit-image ships; those that need pooch downloads are not used) or
# "PACKAGE:relative/path" (a photo file inside an installed package, read without importing the package).
PHOTOS: dict[str, str] = {
    "IMG_0001.JPG": "skimage.data.coins",
    "IMG_0002.JPG": "ultralytics:assets/bus.jpg",
    "IMG_0003.JPG": "skimage.data.grass",
    "IMG_0004.JPG": "skimage.data.chelsea",
    "IMG_0005.JPG": "skimage.data.hubble_deep_field",
    "IMG_0006.JPG": "sklearn:datasets/images/flower.jpg",
    "IMG_0007.JPG": "skimage.data.page",
    "IMG_0008.JPG": "skimage.data.rocket",
    "IMG_0009.JPG": "skimage.data.clock",
    "IMG_0010.JPG": "skimage.data.immunohistochemistry",
    "IMG_0011.JPG": "skimage.data.astronaut",
    "IMG_0012.JPG": "skimage.data.brick",
    "IMG_0013.JPG": "matplotlib:mpl-data/sample_data/grace_hopper.jpg",
    "IMG_0014.JPG": "skimage.data.stereo_motorcycle[0]",
    "IMG_0015.JPG": "skimage.data.moon",
    "IMG_0016.JPG": "skimage.data.coffee",
    "IMG_0017.JPG": "skimage.data.retina",
    "IMG_0018.JPG": "sklearn:datasets/images/china.jpg",
    "IMG_0019.JPG": "skimage.data.gravel",
    "IMG_0020.JPG": "skimage.data.camera",
    "IMG_0021.JPG": "ultralytics:assets/zidane.jpg",
    "IMG_0022.JPG": "skimage.data.text",
    "IMG_0023.JPG": "skimage.data.cell",
}
# Left out on purpose: skimage's horse (a black silhouette), colorwheel, checkerboard, logo, shepp_logan_phantom,
# binary_blobs (synthetic), microaneurysms (a 102-pixel crop), lfw_subset (25-pixel faces), motorcycle_right (a
# near-copy of the left view), the pooch-only datasets (eagle, lily, skin, brain, kidney...), matplotlib's icons.


class SourceMissing(Exception):
    """The package holding this photo is not installed (or no longer ships it)."""


def _skimage(name: str) -> Any:
    try:
        from skimage import data
    except ImportError as exc:
        raise SourceMissing("scikit-image is not installed") from exc
    index = None
    if name.endswith("]"):
        name, _, rest = name.partition("[")
        index = int(rest[:-1])
    loader: Callable[[], Any] | None = getattr(data, name, None)
    if loader is None:
        raise SourceMissing(f"this scikit-image has no data.{name}")
    try:
        pixels = loader()
    except (ImportError, OSError, ValueError) as exc:  # a pooch download would be needed
        raise SourceMissing(f"skimage.data.{name} is not available offline: {exc}") from exc
    return pixels[index] if index is not None else pixels


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the package without importing it (ultralytics pulls torch)
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissing(f"{package} is not installed")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    raise SourceMissing(f"{package} has no {relative}")


def load(source: str) -> Any:
    """The photo of `source` as a PIL RGB image."""
    import numpy as np
    from PIL import Image

    if source.startswith("skimage.data."):
        pixels = np.asarray(_skimage(source.removeprefix("skimage.data.")))
        if pixels.dtype != np.uint8:  # floats in 0..1, or wider integers
            top = 1.0 if pixels.dtype.kind == "f" else float(np.iinfo(pixels.dtype).max)
            pixels = np.clip(pixels / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(pixels).convert("RGB")
    package, _, relative = source.partition(":")
    with Image.open(_package_file(package, relative)) as image:
        return image.convert("RGB")


def write_library(out_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Write the photos and MANIFEST.json; returns (written name -> source, missing name -> why)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name, source in PHOTOS.items():
        try:
            image = load(source)
        except SourceMissing as exc:
            missing[name] = str(exc)
            continue
        image.save(out_dir / name, format="JPEG", quality=QUALITY)  # no EXIF, no comment: nothing names it
        manifest[name] = source
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the photos and MANIFEST.json into")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = parser.parse_args(argv)
    manifest, missing = write_library(args.out_dir)
    for name, why in missing.items():
        print(f"left out {name} ({PHOTOS[name]}): {why}", file=sys.stderr)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print(f"{len(manifest)} photos written to {args.out_dir} (MANIFEST.json lists their sources)")
    return 0 if manifest else 1


if __name__ == "__main__":
    sys.exit(main())
