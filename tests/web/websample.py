"""What the web tests share: the sample library's layout and settings, and a snapshot of a folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chronicon.library import Library

REPO = Path(__file__).resolve().parents[2]
PLUGINS_DIR = REPO / "plugins"
FPS = 12
SHOW = ("coffee", "chelsea", "rocket")  # the slideshow's shots, in order
SPOKEN = "Happy birthday to you."  # said over the rocket, from 6.3 s (it ends before the video does)
SPEECH_START = 6.3
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "moon")
# A Lightroom-style sidecar of chelsea.jpg: a rating, a keyword and a tagged face.
SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" xmp:Rating="5">
  <dc:subject><rdf:Bag><rdf:li>tabby</rdf:li></rdf:Bag></dc:subject>
  <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
   <rdf:li><rdf:Description mwg-rs:Name="Chelsea" mwg-rs:Type="Face"/></rdf:li>
  </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""
# The Host header Starlette's TestClient sends; the app answers only the Host names it is told to (and loopback).
TEST_HOSTS = ("testserver",)


@dataclass
class Sample:
    """The scanned sample: its library, folders, and the slideshow's cut times."""

    library: Library
    root: Path
    catalog: Path
    video: Path
    cuts: list[float]
    settings: dict[str, object]

    def open(self, catalog: Path | None = None) -> Library:
        """Another Library on this (or a copied) catalog, configured the same way."""
        return Library(catalog or self.catalog, overrides=self.settings, environ={}, entry_points=False)


def sample_settings(model_cache: Path) -> dict[str, object]:
    return {
        "tags.enabled": True,
        "clip.enabled": False,
        "transcribe.enabled": True,  # the slideshow has a spoken toast: the transcript routes serve real text
        "caption.enabled": False,
        "model_cache": str(model_cache),
        "plugins.paths": [str(PLUGINS_DIR)],
        "plugins.disabled": ["faces", "extract"],
    }


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under a folder: (size, mtime, first bytes) by relative path, to prove nothing changed."""
    out: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, path.read_bytes()[:4096])
    return out
