"""The xmp pass end to end: sidecars and embedded XMP become asset columns, `info` shows them, `--rating` and
`--keyword` filter on them, the search box finds a photo by a keyword only its sidecar has, and an edited, added or
removed sidecar is picked up by the next scan, which re-runs the xmp pass alone (never writing a file)."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chronicon.cli.main import cli
from chronicon.media.xmp import JPEG_XMP_HEADER
from mediafactory import make_jpeg

NS = (
    'xmlns:x="adobe:ns:meta/"',
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    'xmlns:dc="http://purl.org/dc/elements/1.1/"',
    'xmlns:lr="http://ns.adobe.com/lightroom/1.0/"',
)


def xmp(rating: int | None = None, label: str | None = None, keywords: tuple[str, ...] = (),
        hierarchy: tuple[str, ...] = (), title: str | None = None) -> str:  # fmt: skip
    """A sidecar as Lightroom writes it."""
    attrs = (f' xmp:Rating="{rating}"' if rating is not None else "") + (f' xmp:Label="{label}"' if label else "")
    body = ""
    if keywords:
        body += "<dc:subject><rdf:Bag>" + "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords) + "</rdf:Bag></dc:subject>"
    if hierarchy:
        body += "<lr:hierarchicalSubject><rdf:Bag>" + "".join(f"<rdf:li>{h}</rdf:li>" for h in hierarchy)
        body += "</rdf:Bag></lr:hierarchicalSubject>"
    if title:
        body += f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>'
    return (f'<x:xmpmeta {" ".join(NS)}><rdf:RDF><rdf:Description rdf:about=""{attrs}>{body}'
            "</rdf:Description></rdf:RDF></x:xmpmeta>")  # fmt: skip


def _embed(path: Path, packet: str) -> None:
    raw = path.read_bytes()
    payload = JPEG_XMP_HEADER + packet.encode()
    path.write_bytes(raw[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + raw[2:])


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def _bump(path: Path, text: str) -> None:
    """Rewrite a sidecar as an editor would (its mtime moves on even within the same clock tick)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    make_jpeg(root / "paris.jpg", color=(30, 60, 200))
    (root / "paris.jpg.xmp").write_text(
        xmp(4, "Red", ("zanzibarite", "river"), ("Places|France|Paris",), title="Evening on the Seine")
    )
    make_jpeg(root / "IMG_0002.jpg", color=(200, 160, 30))
    _embed(root / "IMG_0002.jpg", xmp(2, "Blue", ("beach",), ("Places|Spain|Cadiz",)))
    (root / "IMG_0002.xmp").write_text(xmp(5))  # Lightroom's name; wins over the embedded rating only
    make_jpeg(root / "plain.jpg", color=(20, 200, 40))
    (root / "broken.jpg").write_bytes((root / "plain.jpg").read_bytes())
    (root / "broken.jpg.xmp").write_text("<x:xmpmeta><rdf:RDF>not closed")
    return root


def test_scan_stores_xmp_and_never_indexes_or_writes_sidecars(make_library: Any, library_dir: Path) -> None:
    before = _snapshot(library_dir)
    lib = make_library()
    summary = lib.scan([library_dir])
    assert summary.counts["new"] == 4 and summary.counts["failed"] == 0  # three photos and broken.jpg, no .xmp
    assert sorted(Path(r["path"]).name for r in lib.catalog.rows()) == ["IMG_0002.jpg", "broken.jpg", "paris.jpg",
                                                                        "plain.jpg"]  # fmt: skip
    paris = lib.info(library_dir / "paris.jpg")
    assert paris["xmp_rating"] == 4 and paris["xmp_label"] == "Red"
    assert paris["xmp_keywords"] == ["zanzibarite", "river"]
    assert paris["xmp_hierarchy"] == ["Places|France|Paris"]
    assert paris["xmp_title"] == "Evening on the Seine"
    assert paris["xmp_source"] == "sidecar paris.jpg.xmp"
    assert paris["sidecars"].startswith("paris.jpg.xmp:")
    second = lib.info(library_dir / "IMG_0002.jpg")
    assert second["xmp_rating"] == 5 and second["xmp_label"] == "Blue" and second["xmp_keywords"] == ["beach"]
    assert second["xmp_source"] == "sidecar IMG_0002.xmp, embedded"
    plain = lib.info(library_dir / "plain.jpg")
    assert plain["xmp_rating"] is None and plain["xmp_keywords"] == [] and plain["xmp_source"] is None
    broken = lib.info(library_dir / "broken.jpg")  # a bad sidecar: named, left out, the photo is fine
    assert broken["status"] == "ok" and broken["xmp_problem"].startswith("broken.jpg.xmp: not well-formed XML")
    assert _snapshot(library_dir) == before


def test_rating_and_keyword_filters(make_library: Any, library_dir: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])

    def names(**filters: Any) -> list[str]:
        return sorted(Path(h.path).name for h in lib.browse(**filters))

    assert names(rating=4) == ["IMG_0002.jpg", "paris.jpg"]
    assert names(rating=5) == ["IMG_0002.jpg"]
    assert names(keywords=["ZANZIBARITE"]) == ["paris.jpg"]
    assert names(keywords=["france"]) == ["paris.jpg"]  # a level of a hierarchical keyword
    assert names(keywords=["Places|France"]) == []  # (a level, or the whole path, not a prefix path)
    assert names(keywords=["places|france|paris"]) == ["paris.jpg"]
    assert names(keywords=["places"]) == ["IMG_0002.jpg", "paris.jpg"]
    assert names(keywords=["places", "beach"], rating=5) == ["IMG_0002.jpg"]
    assert names(keywords=["nowhere"]) == []


def test_cli_info_and_search_options(make_library: Any, library_dir: Path, catalog_dir: Path, tmp_path: Path) -> None:
    make_library().scan([library_dir])
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path / "no-config")})
    base = ["--catalog", str(catalog_dir)]
    result = runner.invoke(cli, [*base, "info", str(library_dir / "paris.jpg"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["xmp_rating"] == 4 and data["xmp_keywords"] == ["zanzibarite", "river"]
    result = runner.invoke(cli, [*base, "info", str(library_dir / "paris.jpg")])
    assert result.exit_code == 0 and "xmp_keywords" in result.output and "zanzibarite" in result.output
    result = runner.invoke(cli, [*base, "search", "anything", "--rating", "9"])
    assert result.exit_code == 2 and "--rating" in result.output
    result = runner.invoke(cli, [*base, "search", "--help"])
    assert "--keyword" in result.output and "--rating" in result.output


def test_editing_a_sidecar_rereads_it_alone_on_the_next_scan(make_library: Any, library_dir: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])
    first = {Path(r["path"]).name: json.loads(r["phases"]) for r in lib.catalog.rows()}
    unchanged = lib.scan([library_dir])
    assert unchanged.counts["unchanged"] == 4 and not unchanged.timings["xmp"].items

    sidecar = library_dir / "paris.jpg.xmp"
    photo_before = (library_dir / "paris.jpg").read_bytes()
    _bump(sidecar, xmp(1, "Green", ("okapi",), ("Animals|Okapi",)))
    _bump(library_dir / "plain.xmp", xmp(3, keywords=("meadow",)))  # added
    (library_dir / "IMG_0002.xmp").unlink()  # removed: the embedded values are back
    again = lib.scan([library_dir])
    assert again.counts["unchanged"] == 4 and again.updated == 3 and again.counts["failed"] == 0
    assert again.timings["xmp"].items == 3
    assert again.timings["content"].items == 0 and again.timings["metadata"].items == 0  # nothing else re-ran
    rows = {Path(r["path"]).name: r for r in lib.catalog.rows()}
    assert rows["paris.jpg"]["xmp_keywords"] == ["okapi"] and rows["paris.jpg"]["xmp_rating"] == 1
    assert rows["plain.jpg"]["xmp_keywords"] == ["meadow"] and rows["plain.jpg"]["xmp_source"] == "sidecar plain.xmp"
    assert rows["IMG_0002.jpg"]["xmp_rating"] == 2 and rows["IMG_0002.jpg"]["xmp_source"] == "embedded"
    for name in ("paris.jpg", "plain.jpg", "IMG_0002.jpg"):
        phases = json.loads(rows[name]["phases"])
        assert phases["content"] == first[name]["content"] and phases["metadata"] == first[name]["metadata"]
    assert (library_dir / "paris.jpg").read_bytes() == photo_before
    names = sorted(Path(h.path).name for h in lib.browse(keywords=["okapi"]))
    assert names == ["paris.jpg"] and lib.browse(keywords=["zanzibarite"]) == []
    assert lib.scan([library_dir]).timings["xmp"].items == 0  # and then it is settled


def test_a_moved_photo_keeps_its_analysis_and_reads_its_new_sidecar(make_library: Any, library_dir: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])
    (library_dir / "moved").mkdir()
    shutil.move(library_dir / "plain.jpg", library_dir / "moved" / "plain.jpg")
    (library_dir / "moved" / "plain.xmp").write_text(xmp(2, keywords=("relocated",)))
    summary = lib.scan([library_dir])
    assert summary.counts["moved"] == 1 and summary.timings["content"].items == 0
    row = lib.info(library_dir / "moved" / "plain.jpg")
    assert row["xmp_keywords"] == ["relocated"]


@pytest.fixture
def ml_scanned(make_ml_library: Any, library_dir: Path, sample_photos: Path) -> Any:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("cv2")
    for name in ("chelsea", "coffee", "rocket"):
        shutil.copy(sample_photos / f"{name}.jpg", library_dir / f"{name}.jpg")
    lib = make_ml_library()
    summary = lib.scan([library_dir])
    assert summary.counts["failed"] == 0
    return lib


def test_a_keyword_only_a_sidecar_has_finds_its_photo_from_the_search_box(ml_scanned: Any, library_dir: Path) -> None:
    lib = ml_scanned
    hits = lib.search("zanzibarite")
    assert hits and Path(hits[0].path).name == "paris.jpg"
    assert any("XMP" in why for why in hits[0].why)
    titled = lib.search("seine evening")
    assert Path(titled[0].path).name == "paris.jpg"
    # filters apply to searches too
    assert [Path(h.path).name for h in lib.search("a cat", keywords=["France"], show_all=True)] == ["paris.jpg"]
    rated = {Path(h.path).name for h in lib.search("a cat", rating=4, show_all=True)}
    assert rated == {"paris.jpg", "IMG_0002.jpg"}
    # the same from the command line
    env = {"XDG_CONFIG_HOME": str(library_dir.parent / "no-config"), "CHRONICON_CLIP__ENABLED": "false",
           "CHRONICON_MODEL_CACHE": str(lib.config["model_cache"]), "CHRONICON_TAGS__ENABLED": "true"}  # fmt: skip
    base = ["--catalog", str(lib.catalog_dir), "search", "a cat", "-f", "--all"]
    runner = CliRunner(env=env)
    found = runner.invoke(cli, [*base, "--keyword", "PARIS", "--keyword", "river"])
    assert found.exit_code == 0, found.output
    assert [Path(p).name for p in found.output.split()] == ["paris.jpg"]
    found = runner.invoke(cli, [*base, "--rating", "5"])
    assert found.exit_code == 0 and [Path(p).name for p in found.output.split()] == ["IMG_0002.jpg"]
    # after an edit, the old keyword no longer finds it and the new one does
    _bump(library_dir / "paris.jpg.xmp", xmp(4, keywords=("quokkaland",)))
    lib.scan([library_dir])
    assert all(Path(h.path).name != "paris.jpg" for h in lib.search("zanzibarite"))
    assert Path(lib.search("quokkaland")[0].path).name == "paris.jpg"


def test_a_touched_photo_with_an_edited_sidecar_keeps_its_analysis(make_library: Any, library_dir: Path) -> None:
    lib = make_library()
    lib.scan([library_dir])
    photo = library_dir / "paris.jpg"
    content_before = json.loads(lib.info(photo)["phases"])["content"]
    stamp = photo.stat().st_mtime_ns + 5_000_000_000
    os.utime(photo, ns=(stamp, stamp))  # same bytes, new mtime: the analysis is kept
    _bump(library_dir / "paris.jpg.xmp", xmp(2, keywords=("touched",)))
    summary = lib.scan([library_dir])
    assert summary.timings["content"].items == 0 and summary.timings["xmp"].items == 1
    row = lib.info(photo)
    assert row["xmp_keywords"] == ["touched"] and json.loads(row["phases"])["content"] == content_before
    assert lib.scan([library_dir]).timings["xmp"].items == 0
