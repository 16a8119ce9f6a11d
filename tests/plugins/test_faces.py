"""The faces plugin on real photos: dlib finds the astronaut's face, variants cluster into one person, people
can be named, merged and searched by, videos give faces with their shot times, and nothing breaks without it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from chronicon.catalog.lock import ScanLock
from chronicon.library import Library
from chronicon.search.filters import FilterError
from ci_skips import provided_reason
from mediafactory import make_slideshow

pytest.importorskip("dlib")
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
sys.path.insert(0, str(PLUGINS))
from chronicon_faces.analyzer import FACE_DIM, FACE_SPACE  # noqa: E402
from chronicon_faces.models import missing  # noqa: E402

pytestmark = pytest.mark.skipif(missing() is not None, reason=provided_reason(str(missing())))

OTHERS_OFF = ("aesthetic", "albums", "duplicates")  # the other bundled plugins: not what these tests are about
FAST = {"faces.max_side": 512}
VARIANTS = ("astronaut.jpg", "mirrored.jpg", "smaller.png", "reencoded.jpg", "brighter.jpg", "cropped.webp")


@pytest.fixture
def face_photos(tmp_path: Path, sample_photos: Path) -> Path:
    """The astronaut portrait and five edits of it, a cat, a coffee cup and a corrupt JPEG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    portrait = Image.open(sample_photos / "astronaut.jpg").convert("RGB")
    portrait.save(folder / "astronaut.jpg", quality=92)
    ImageOps.mirror(portrait).save(folder / "mirrored.jpg", quality=90)
    portrait.resize((400, 400), Image.Resampling.LANCZOS).save(folder / "smaller.png")
    portrait.save(folder / "reencoded.jpg", quality=35)
    ImageEnhance.Brightness(portrait).enhance(1.35).save(folder / "brighter.jpg", quality=90)
    portrait.crop((60, 10, 420, 330)).save(folder / "cropped.webp", quality=85)
    for name in ("chelsea.jpg", "coffee.jpg"):
        (folder / name).write_bytes((sample_photos / name).read_bytes())
    (folder / "corrupt.jpg").write_bytes((sample_photos / "astronaut.jpg").read_bytes()[:300])
    return folder


def faces_of(library: Library) -> dict[str, dict[str, Any]]:
    return {Path(r["path"]).name: r for r in library.catalog.rows(columns=["path", "face_count", "faces", "error"])}


def people_of(library: Library) -> list[dict[str, Any]]:
    from chronicon_faces.people import summaries

    return [s.to_json() for s in summaries(library.catalog).people]


def test_one_face_per_portrait_none_on_cat_and_cup_and_one_person(make_plugin_library: Any, face_photos: Path) -> None:
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST)
    summary = library.scan([face_photos])
    rows = faces_of(library)
    faces = json.loads(rows["astronaut.jpg"]["faces"])
    assert rows["astronaut.jpg"]["face_count"] == 1 and len(faces) == 1
    x, y, w, h = faces[0]["box"]
    # Eileen Collins' face: upper half, left of centre, about a sixth of the picture wide, roughly square.
    assert 0.25 < x < 0.45 and 0.05 < y < 0.25 and 0.1 < w < 0.3 and 0.8 < w / h < 1.25
    assert faces[0]["segment"] == 0 and faces[0]["t"] is None and faces[0]["score"] > 0.4
    assert (library.catalog_dir / faces[0]["crop"]).is_file()
    assert rows["chelsea.jpg"]["face_count"] == 0 and rows["coffee.jpg"]["face_count"] == 0
    for name in VARIANTS:
        assert rows[name]["face_count"] == 1, name
    mirrored = json.loads(rows["mirrored.jpg"]["faces"])[0]["box"]
    assert abs((mirrored[0] + mirrored[2]) - (1 - x)) < 0.03  # the box mirrors too
    # The corrupt file fails alone, with a reason; the others are fine.
    assert [Path(f.path).name for f in summary.failures if f.stage == "faces"] == ["corrupt.jpg"]
    assert rows["corrupt.jpg"]["face_count"] is None and "faces" in rows["corrupt.jpg"]["error"]
    assert all(rows[n]["error"] is None for n in rows if n != "corrupt.jpg")
    # Descriptors live in the face space: one row per face, segment = face number.
    table = library.catalog.open_vector_table(FACE_SPACE)
    assert table is not None and table.dim == FACE_DIM and table.count() == len(VARIANTS)
    ids = {Path(r["path"]).name: r["id"] for r in library.catalog.rows(columns=["id", "path"])}
    stored = table.vectors_for([ids["astronaut.jpg"], ids["mirrored.jpg"]])
    first, second = stored[ids["astronaut.jpg"]][0], stored[ids["mirrored.jpg"]][0]
    assert first.segment == 1 and float(np.linalg.norm(first.vector - second.vector)) < 0.5
    # All six edits are one person.
    people = people_of(library)
    assert len(people) == 1 and people[0]["faces"] == len(VARIANTS) and people[0]["assets"] == len(VARIANTS)
    assert any(f"faces: 0 faces joined known people, 1 new people ({len(VARIANTS)} faces)" in n for n in summary.notes)
    found = {Path(hit.path).name for hit in library.browse(person=str(people[0]["id"]))}
    assert found == set(VARIANTS)
    # A scan with nothing new changes nothing; a new copy joins the known person.
    again = library.scan([face_photos])
    assert people_of(library) == people and not any(n.startswith("faces:") for n in again.notes)
    ImageOps.grayscale(Image.open(face_photos / "astronaut.jpg")).save(face_photos / "grey.jpg")
    more = library.scan([face_photos])
    assert any("1 faces joined known people, 0 new people" in n for n in more.notes)
    assert people_of(library)[0]["faces"] == len(VARIANTS) + 1 and len(people_of(library)) == 1
    # A file that changes to one without a face loses its face and its descriptor.
    (face_photos / "grey.jpg").write_bytes((face_photos / "chelsea.jpg").read_bytes())
    library.scan([face_photos])
    assert people_of(library)[0]["faces"] == len(VARIANTS) and table.count() == len(VARIANTS)


def test_name_merge_recluster_and_person_filter(make_plugin_library: Any, face_photos: Path) -> None:
    from chronicon_faces import cluster
    from chronicon_faces.people import find

    # A zero distance keeps every face apart: six people to merge by hand.
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST, **{"faces.cluster_distance": 0.0})
    library.scan([face_photos])
    people = people_of(library)
    assert len(people) == len(VARIANTS) and all(p["faces"] == 1 for p in people)
    first, *rest = [p["id"] for p in people]
    cluster.rename(library.catalog, find(library.catalog, first), "Eileen")
    assert find(library.catalog, "eileen").id == first and find(library.catalog, f"#{first}").id == first
    merged = cluster.merge(library.catalog, find(library.catalog, rest[0]), [find(library.catalog, "Eileen")])
    assert merged.id == rest[0] and merged.name == "Eileen" and merged.face_count == 2  # took the other's name
    cluster.merge(library.catalog, merged, [find(library.catalog, p) for p in rest[1:]])
    people = people_of(library)
    assert [(p["name"], p["faces"], p["assets"]) for p in people] == [("Eileen", len(VARIANTS), len(VARIANTS))]
    assert {Path(h.path).name for h in library.browse(person="Eileen")} == set(VARIANTS)
    assert {Path(h.path).name for h in library.browse(person="Eileen", kind="video")} == set()
    with pytest.raises(FilterError, match="no person 'Nobody'"):
        library.browse(person="Nobody")
    # Reclustering keeps the named person whole, even with the distance that split the faces at first.
    report = cluster.update(library.catalog, distance=0.0, min_faces=1, rebuild=True)
    assert report.kept == len(VARIANTS) and report.new_people == 0
    assert [(p["name"], p["faces"]) for p in people_of(library)] == [("Eileen", len(VARIANTS))]


def test_rescan_with_other_settings_reassigns_renumbered_faces(
    make_plugin_library: Any, face_photos: Path, tmp_path: Path
) -> None:
    """Faces are numbered left to right: with another `min_score`, face 1 of an unchanged file can be another
    face. Its old person must not stick to it: each face ends with the person its descriptor is close to."""
    from chronicon_faces.store import read_assignments, read_people

    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("astronaut.jpg", "mirrored.jpg"):
        (folder / name).write_bytes((face_photos / name).read_bytes())
    loose = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST, **{"faces.min_score": 0.0})
    loose.scan([folder])
    ids = {Path(r["path"]).name: r["id"] for r in loose.catalog.rows(columns=["id", "path"])}
    portrait = json.loads(faces_of(loose)["astronaut.jpg"]["faces"])
    # With no score limit HOG also takes a weak patch left of the face: it is face 1, the real face is face 2.
    assert len(portrait) >= 2 and portrait[0]["score"] < 0.4 and max(f["score"] for f in portrait) > 1.0
    real = 1 + max(range(len(portrait)), key=lambda i: portrait[i]["score"])
    first = read_assignments(loose.catalog)
    astronaut = first[(ids["astronaut.jpg"], real)][0]
    assert first[(ids["astronaut.jpg"], 1)][0] != astronaut  # the patch is not the astronaut

    strict = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST, **{"faces.min_score": 0.4})
    summary = strict.scan([folder])  # same files, another detection setting: the pass runs again
    assert json.loads(faces_of(strict)["astronaut.jpg"]["faces"])[0]["score"] > 1.0  # face 1 is now the real one
    after = read_assignments(strict.catalog)
    people = read_people(strict.catalog)
    table = strict.catalog.open_vector_table(FACE_SPACE)
    stored = table.vectors_for(ids.values())
    assert set(after) == {(a, r.segment) for a, rows in stored.items() for r in rows}
    for (asset_id, n), (pid, _) in after.items():
        vector = next(r.vector for r in stored[asset_id] if r.segment == n)
        assert float(np.linalg.norm(vector - people[pid].centroid)) <= 0.5, (asset_id, n)
    assert after[(ids["astronaut.jpg"], 1)][0] == after[(ids["mirrored.jpg"], 1)][0] == astronaut
    assert people[astronaut].face_count == 2 and len(people) == 1  # the patch's person went with its face
    assert any("dropped" in note for note in summary.notes)


def test_video_faces_come_from_shots_with_times(make_plugin_library: Any, face_photos: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    cuts = make_slideshow(
        media / "clip.mp4",
        [face_photos / "astronaut.jpg", face_photos / "chelsea.jpg", face_photos / "mirrored.jpg"],
        seconds_each=2.0,
        size=(384, 384),
    )
    (media / "astronaut.jpg").write_bytes((face_photos / "astronaut.jpg").read_bytes())
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST)
    library.scan([media])
    rows = faces_of(library)
    faces = json.loads(rows["clip.mp4"]["faces"])
    segments = json.loads(next(library.catalog.rows(columns=["segments"], where="kind = 'video'"))["segments"])
    starts = {int(s["index"]): float(s["t_start"]) for s in segments}
    assert len(starts) == 3 and abs(starts[2] - cuts[0]) < 0.5 and abs(starts[3] - cuts[1]) < 0.5
    # One face in the first shot and one in the last, none in the cat's; each with its shot's times.
    assert [f["segment"] for f in faces] == [1, 3] and rows["clip.mp4"]["face_count"] == 2
    for face in faces:
        assert face["t"] == pytest.approx(starts[face["segment"]]) and face["t_end"] > face["t"]
    table = library.catalog.open_vector_table(FACE_SPACE)
    video_id = next(library.catalog.rows(columns=["id"], where="kind = 'video'"))["id"]
    stored = table.vectors_for([video_id])[video_id]
    assert [(r.segment, r.t_start) for r in stored] == [(1, faces[0]["t"]), (2, faces[1]["t"])]
    # The video's faces and the photo's are one person, found by the person filter.
    people = people_of(library)
    assert len(people) == 1 and people[0]["faces"] == 3 and people[0]["assets"] == 2
    assert {h.kind for h in library.browse(person=str(people[0]["id"]))} == {"image", "video"}


def test_disabled_plugin_leaves_scans_working(make_plugin_library: Any, face_photos: Path) -> None:
    library = make_plugin_library(disabled=OTHERS_OFF)  # faces is off unless enabled
    summary = library.scan([face_photos])
    assert summary.counts.get("new") == len(VARIANTS) + 2 and "face_count" not in library.catalog.schema.names
    with pytest.raises(FilterError, match="unknown filter 'person'"):
        library.browse(person="Eileen")


class Run:
    """`chronicon.cli.main` in this process (plugins load in main, as in a real run): exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], config: Path) -> None:
        self.capsys, self.config = capsys, config

    def __call__(self, *args: str, codes: tuple[int, ...] = (0,)) -> tuple[str, str]:
        from chronicon.cli import main

        self.capsys.readouterr()
        try:
            main(["--config", str(self.config), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        assert code in codes, (args, code, out, err)
        return out, err


def test_people_commands(
    tmp_path: Path, face_photos: Path, catalog_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for key in [k for k in os.environ if k.startswith("CHRONICON_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "250")
    config = tmp_path / "config.yaml"
    settings = {
        "catalog": str(catalog_dir),
        "plugins": {"paths": [str(PLUGINS)],
                    "disabled": ["extract", *OTHERS_OFF]},
        "tags": {"enabled": False}, "clip": {"enabled": False}, "transcribe": {"enabled": False},
        "caption": {"enabled": False}, "faces": {"max_side": 512, "cluster_distance": 0.0},
    }  # fmt: skip
    config.write_text(json.dumps(settings))  # JSON is YAML
    cli = Run(capsys, config)
    cli("scan", str(face_photos), codes=(1,))  # the corrupt file: exit 1
    listed = json.loads(cli("people", "list", "--json")[0])
    assert len(listed) == len(VARIANTS) and all(p["label"] == f"unnamed #{p['id']}" for p in listed)
    ids = [str(p["id"]) for p in listed]
    named = cli("people", "name", ids[0], "Eileen Collins")
    assert "is now Eileen Collins" in named[0]
    assert "already person" in cli("people", "name", ids[1], "eileen collins", codes=(2,))[1]
    assert "no person" in cli("people", "show", "Nobody", codes=(2,))[1]
    merged = cli("people", "merge", "Eileen Collins", *ids[1:])
    assert f"merged {len(ids) - 1} into Eileen Collins ({len(VARIANTS)} faces)" in merged[0]
    shown = json.loads(cli("people", "show", "eileen collins", "--json")[0])
    assert shown["name"] == "Eileen Collins" and {Path(a["path"]).name for a in shown["assets"]} == set(VARIANTS)
    assert "--person" in cli("search", "--help")[0]
    with ScanLock(catalog_dir):  # a scan holds the catalog: writes are refused with exit 3
        assert "another scan" in cli("people", "recluster", codes=(3,))[1]
    table = cli("people", "list")[0]
    assert "Eileen Collins" in table and any(name in table for name in VARIANTS)  # an example file


def test_cnn_detector_finds_the_same_face(make_plugin_library: Any, sample_photos: Path, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("astronaut.jpg", "chelsea.jpg"):
        (folder / name).write_bytes((sample_photos / name).read_bytes())
    # dlib's MMOD CNN is slow on a CPU: a small picture keeps this test short.
    cnn = {"faces.detector": "cnn", "faces.upsample": 0, "faces.max_side": 384, "faces.min_size": 20}
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **cnn)
    library.scan([folder])
    rows = faces_of(library)
    assert rows["chelsea.jpg"]["face_count"] == 0 and rows["astronaut.jpg"]["face_count"] == 1
    x, y, w, h = json.loads(rows["astronaut.jpg"]["faces"])[0]["box"]
    assert 0.25 < x < 0.45 and 0.05 < y < 0.25 and 0.1 < w < 0.3 and 0.8 < w / h < 1.25


def test_without_the_models_the_pass_waits_and_commands_say_what_to_install(
    make_plugin_library: Any, face_photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from chronicon_faces import models

    monkeypatch.setattr(models, "models_dir", lambda: None)  # as if face-recognition-models were not installed
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **FAST)
    summary = library.scan([face_photos])
    assert any("pip install 'chronicon[faces]'" in note for note in summary.notes), summary.notes
    assert all(r["face_count"] is None for r in faces_of(library).values())
    assert [Path(f.path).name for f in summary.failures] == ["corrupt.jpg"] * len(summary.failures)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"catalog": str(library.catalog_dir), "plugins": {"paths": [str(PLUGINS)]}}))
    _, err = Run(capsys, config)("people", "list", codes=(3,))
    assert "pip install 'chronicon[faces]'" in err


# -- the plugin's tables through the typed storage API ----------------------------------------------------------
def test_assignments_of_touched_assets_are_exactly_the_given_ones(make_plugin_library: Any) -> None:
    """Rows of faces that got no person go (also many face numbers at once); other assets keep theirs."""
    from chronicon_faces.store import Assignments, assets_of_person, move_people, read_assignments, write_assignments

    catalog = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF).catalog
    a, b = "a" * 16, "b" * 16
    start: Assignments = {(a, n): (1 + n % 2, f"d{n}") for n in range(1, 41)}
    start[(b, 1)] = (1, "b1")
    write_assignments(catalog, start, [a, b])
    assert read_assignments(catalog) == start
    kept = {(a, n): (3, f"e{n}") for n in range(2, 41, 4)}  # 10 of a's 40 faces, with other digests and a person
    write_assignments(catalog, kept, [a])
    assert read_assignments(catalog) == {**kept, (b, 1): (1, "b1")}
    assert assets_of_person(catalog, 3) == {a: list(range(2, 41, 4))} and assets_of_person(catalog, 2) == {}
    move_people(catalog, [3], 1)
    assert assets_of_person(catalog, 1) == {a: list(range(2, 41, 4)), b: [1]}
    write_assignments(catalog, {}, [a])  # no faces left on a
    assert read_assignments(catalog) == {(b, 1): (1, "b1")}


def test_storage_faults_in_the_faces_tables_are_one_line_catalog_errors(
    make_plugin_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lancedb.table

    from chronicon.api import CatalogError, CatalogStorageError
    from chronicon_faces.store import (
        ASSIGN_TABLE,
        PEOPLE_TABLE,
        Person,
        read_assignments,
        read_people,
        write_assignments,
        write_people,
    )

    catalog = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF).catalog
    asset = "c" * 16
    write_people(catalog, {1: Person(1, "Eileen", np.ones(FACE_DIM, np.float32), 1, "2024-05-06T07:08:09+00:00")})
    write_assignments(catalog, {(asset, 1): (1, "d1")}, [asset])

    def full(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), /x/writer.rs:258:9")

    monkeypatch.setattr(lancedb.table.LanceTable, "add", full)
    monkeypatch.setattr(lancedb.table.LanceTable, "merge_insert", full)
    with pytest.raises(CatalogStorageError, match=f"cannot write table '{PEOPLE_TABLE}'.*the disk is full") as caught:
        write_people(catalog, {})
    assert ".rs:" not in str(caught.value) and len(str(caught.value).splitlines()) == 1
    with pytest.raises(CatalogStorageError, match=f"cannot write table '{ASSIGN_TABLE}'"):
        write_assignments(catalog, {(asset, 2): (1, "d2")}, [asset])
    monkeypatch.setattr(lancedb.table.LanceTable, "search", full)
    with pytest.raises(CatalogStorageError, match=f"cannot read table '{PEOPLE_TABLE}'"):
        read_people(catalog)
    with pytest.raises(CatalogError, match=ASSIGN_TABLE):
        read_assignments(catalog)
    monkeypatch.undo()
    assert read_people(catalog)[1].name == "Eileen" and read_assignments(catalog) == {(asset, 1): (1, "d1")}


# The defaults before the faster ones (max_side 1600, upsample 0, grey HOG, small pictures doubled).
EARLIER = {"faces.max_side": 1024, "faces.upsample": 1, "faces.grey": False, "faces.upsample_small": False}
EARLIER_FINGERPRINT = (
    "1:dlib-resnet-v1:detector=hog:upsample=1:max_side=1024:min_size=40:min_score=0.4:jitters=0:max_faces=100"
)


def faces_pass(library: Library) -> Any:
    return next(a for a in library.analyzers() if a.name == "faces")


@pytest.fixture
def big_photos(tmp_path: Path, sample_photos: Path) -> Path:
    """Camera-sized JPEGs: the astronaut upscaled to 4000 x 4000, four copies of her face (9% of the height) on
    the cat upscaled to 4000 x 3000, and the cat alone."""
    folder = tmp_path / "big"
    folder.mkdir()
    portrait = Image.open(sample_photos / "astronaut.jpg").convert("RGB")
    portrait.resize((4000, 4000), Image.Resampling.BICUBIC).save(folder / "astronaut-16mp.jpg", quality=90)
    cat = Image.open(sample_photos / "chelsea.jpg").convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    cat.save(folder / "cat-12mp.jpg", quality=90)
    head = portrait.crop((110, 15, 320, 240))  # the face box (165, 73, 99, 99) with hair and chin around it
    scale = 270 / 99
    head = head.resize((round(head.width * scale), round(head.height * scale)), Image.Resampling.BICUBIC)
    group = cat.copy()
    for n in range(4):
        group.paste(ImageOps.mirror(head) if n % 2 else head, (300 + n * 900, 1100))
    group.save(folder / "group-12mp.jpg", quality=90)
    return folder


def test_default_finds_faces_of_camera_sized_photos_and_earlier_settings_keep_their_fingerprint(
    make_plugin_library: Any, big_photos: Path
) -> None:
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **{"faces.crops": False})
    defaults = faces_pass(library)
    assert (defaults.config.int("max_side"), defaults.config.int("upsample")) == (1600, 0)
    assert defaults.config.bool("grey") and defaults.config.bool("upsample_small")
    assert (
        defaults.fingerprint()
        == EARLIER_FINGERPRINT.replace("upsample=1:max_side=1024", "upsample=0:max_side=1600")
        + ":upsample_small=True:grey=True"
    )
    library.scan([big_photos])
    rows = faces_of(library)
    assert rows["cat-12mp.jpg"]["face_count"] == 0
    assert rows["astronaut-16mp.jpg"]["face_count"] == 1
    x, y, w, h = json.loads(rows["astronaut-16mp.jpg"]["faces"])[0]["box"]
    assert 0.25 < x < 0.45 and 0.05 < y < 0.25 and 0.1 < w < 0.3 and 0.8 < w / h < 1.25
    group = json.loads(rows["group-12mp.jpg"]["faces"])
    assert rows["group-12mp.jpg"]["face_count"] == 4
    for n, face in enumerate(group):  # left to right, each where its copy was pasted
        x, y, w, h = face["box"]
        assert abs(x + w / 2 - (300 + n * 900 + 287) / 4000) < 0.02 and abs(y + h / 2 - 1393 / 3000) < 0.02
        assert 0.06 < h < 0.13
    # The four copies of one face and the portrait are one person.
    assert [p["faces"] for p in people_of(library)] == [5]
    # The earlier behaviour stays reachable by settings, with the fingerprint it always had (nothing redone),
    # and finds the same faces; switching back to it re-runs the pass.
    earlier = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **{"faces.crops": False}, **EARLIER)
    assert faces_pass(earlier).fingerprint() == EARLIER_FINGERPRINT
    assert (
        faces_pass(make_plugin_library(enable=("faces",), **{"faces.detector": "cnn"}))
        .fingerprint()
        .endswith(":upsample_small=True")
    )
    earlier.scan([big_photos])
    again = faces_of(earlier)
    assert {name: row["face_count"] for name, row in again.items()} == {
        name: row["face_count"] for name, row in rows.items()
    }
    assert json.loads(again["group-12mp.jpg"]["faces"]) != group  # found again, with the other settings


def test_small_pictures_are_doubled_once_more() -> None:
    from chronicon_faces.detect import scan_upsample

    assert scan_upsample(640, 1600, 0, True) == 1  # a video frame
    assert scan_upsample(1200, 1600, 0, True) == 1 and scan_upsample(1201, 1600, 0, True) == 0
    assert scan_upsample(1600, 1600, 0, True) == 0 and scan_upsample(1600, 1600, 2, True) == 2
    assert scan_upsample(640, 1600, 1, True) == 2 and scan_upsample(640, 1600, 1, False) == 1


def test_a_photo_is_decoded_once_for_faces_and_the_other_passes(
    make_plugin_library: Any, big_photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chronicon.analyzers.inputs as inputs
    import chronicon_faces.analyzer as faces_analyzer

    decodes: list[tuple[str, tuple[int, int]]] = []

    def counting(module: Any) -> Any:
        real = module.open_image

        def open_image(path: str, **kwargs: Any) -> Any:
            image = real(path, **kwargs)
            decodes.append((Path(path).name, image.size))
            return image

        return open_image

    monkeypatch.setattr(inputs, "open_image", counting(inputs))
    monkeypatch.setattr(faces_analyzer, "open_image", counting(faces_analyzer))
    library = make_plugin_library(enable=("faces",), disabled=OTHERS_OFF, **{"faces.crops": False})
    assert faces_pass(library).runtime_models() == ("hog-face-detector", "face-embedder")
    summary = library.scan([big_photos])
    assert not summary.failures
    names = [name for name, _ in decodes]
    assert sorted(names) == sorted(p.name for p in big_photos.iterdir())  # one decode each, shared by all passes
    for _, size in decodes:  # JPEG-drafted to the faces' 1600-px working size, not decoded at 4000 px
        assert 1600 <= max(size) < 4000
    assert {m["model"] for m in summary.models} >= {"hog-face-detector", "face-embedder"}
