"""Include/exclude glob semantics."""

from __future__ import annotations

import pytest

from chronicon.scan.globs import PathFilter, glob_regex


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.jpg", "a.jpg", True),
        ("*.jpg", "x/a.jpg", False),
        ("**/*.jpg", "a.jpg", True),
        ("**/*.jpg", "x/y/a.jpg", True),
        ("**/@eaDir/**", "x/@eaDir/a.jpg", True),
        ("**/@eaDir/**", "@eaDir/a.jpg", True),
        ("trips/**", "trips/2020/a.jpg", True),
        ("trips/**", "other/a.jpg", False),
        ("IMG_????.JPG", "IMG_0001.JPG", True),
        ("[!a]*.png", "b.png", True),
        ("[!a]*.png", "a.png", False),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


def test_filter_include_and_exclude() -> None:
    flt = PathFilter(include=["**/*.jpg"], exclude=["private/**"])
    assert flt.keeps_file("a/b.jpg")
    assert not flt.keeps_file("a/b.png")
    assert not flt.keeps_file("private/b.jpg")
    assert flt.prunes_dir("private")
    assert not flt.prunes_dir("public")
