"""A sample library scanned once for the web tests: real photos and a slideshow video, tagged offline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from chronicon.library import Library
from ci_skips import provided_reason
from mediafactory import add_audio, espeak_available, make_slideshow, make_speech_audio
from websample import FPS, PHOTOS, SHOW, SIDECAR, SPEECH_START, SPOKEN, TEST_HOSTS, Sample, sample_settings


@pytest.fixture(scope="session")
def web_sample(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Sample:
    pytest.importorskip("ai_edge_litert", reason="the offline tagger (the `ml` extra) makes the sample searchable")
    base = tmp_path_factory.mktemp("web")
    root = base / "library"
    (root / "photos").mkdir(parents=True)
    (root / "videos").mkdir()
    for name in PHOTOS:
        shutil.copy(sample_photos / f"{name}.jpg", root / "photos" / f"{name}.jpg")
    (root / "photos" / "chelsea.xmp").write_text(SIDECAR)  # what a photo manager recorded: the viewer shows it
    video = root / "videos" / "slideshow.mp4"
    if not espeak_available():
        pytest.skip(provided_reason("espeak-ng is not installed: the web sample's video speaks (.ci/run installs it)"))
    silent = base / "silent.mp4"
    cuts = make_slideshow(silent, [sample_photos / f"{n}.jpg" for n in SHOW], seconds_each=3.0, fps=FPS)
    make_speech_audio(SPOKEN, base / "speech.wav")
    add_audio(silent, base / "speech.wav", video, start=SPEECH_START)
    settings = sample_settings(model_cache)
    library = Library(base / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([root])
    assert summary.counts["new"] == len(PHOTOS) + 1 and not summary.failures, summary.failures
    return Sample(library, root, base / "catalog", video, cuts, settings)


@pytest.fixture(scope="session")
def client(web_sample: Sample) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    with TestClient(create_app(web_sample.library, allowed_hosts=TEST_HOSTS)) as test_client:
        yield test_client
