"""Smart albums plugin: rules, storage, incremental rebuilds on scans, exports, CLI and REST routes, on real media."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chronicon.catalog.lock import ScanLock
from chronicon.library import Library
from mediafactory import make_jpeg, make_slideshow
from ml_switches import NO_ML

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
# The other bundled plugins are left out: these tests are about albums alone (and stay fast).
OTHER_PLUGINS = ("faces", "extract", "aesthetic", "duplicates")
CUT_SECONDS = 3.0
FPS = 12


def _lib(catalog: Path, *, ml: bool, model_cache: Path, disabled: tuple[str, ...] = (), **extra: Any) -> Library:
    ml_settings = {"tags.enabled": True, "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False}
    settings: dict[str, Any] = {
        **(ml_settings if ml else NO_ML),
        "model_cache": str(model_cache),
        "plugins.paths": [str(PLUGINS_DIR)],
        "plugins.disabled": [*OTHER_PLUGINS, *disabled],
        **extra,
    }
    return Library(catalog, overrides=settings, environ={}, entry_points=False)


def _albums() -> Any:
    from chronicon_albums import service
    from chronicon_albums.rules import AlbumRule

    return service, AlbumRule


# -- a scanned library of real photos and a slideshow video, shared by the ML tests -----------------------
@pytest.fixture(scope="module")
def ml_library(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    pytest.importorskip("ai_edge_litert")
    root = tmp_path_factory.mktemp("albums-ml")
    media = root / "media"
    shutil.copytree(sample_photos, media / "photos")
    (media / "videos").mkdir()
    pictures = [sample_photos / f"{n}.jpg" for n in ("coffee", "chelsea", "rocket")]
    cuts = make_slideshow(media / "videos" / "party.mp4", pictures, seconds_each=CUT_SECONDS, fps=FPS)
    library = _lib(root / "catalog", ml=True, model_cache=model_cache)
    summary = library.scan([media])
    assert not summary.failures, summary.failures
    return library, media, cuts


def test_query_album_finds_the_cat_first(ml_library: Any) -> None:
    library, media, _ = ml_library
    service, rule_cls = _albums()
    store = service.store_of(library)
    album = service.create(library, store, "Cats 🐈", rule_cls.from_mapping({"query": "a cat", "kind": "image"}))
    assert album.error is None and album.members
    assert album.members[0]["path"] == str(media / "photos" / "chelsea.jpg")
    assert all(m["kind"] == "image" for m in album.members)
    scores = [m["score"] for m in album.members if m["score"] is not None]
    assert scores and album.members[0]["score"] is not None
    stored = store.get("cats 🐈")  # names match without regard to case
    assert stored is not None and stored.name == "Cats 🐈" and stored.members == album.members
    assert stored.member_ids() <= set(library.catalog.rows_by_id(stored.member_ids(), ["id"]))


def test_label_album_holds_exactly_the_assets_with_that_label(ml_library: Any) -> None:
    library, media, _ = ml_library
    service, rule_cls = _albums()
    row = library.info(media / "photos" / "chelsea.jpg")
    label = row["labels"][0]
    album = service.create(library, service.store_of(library), "by label", rule_cls.from_mapping({"labels": [label]}))
    expected = {r["id"] for r in library.catalog.rows(None, ["id", "labels"]) if label in (r["labels"] or [])}
    assert album.error is None and {m["id"] for m in album.members} == expected
    assert row["id"] in expected


def test_video_album_hit_has_the_shot_time_and_m3u_starts_at_its_moment(ml_library: Any, tmp_path: Path) -> None:
    from chronicon_albums.export import export

    library, media, cuts = ml_library
    service, rule_cls = _albums()
    album = service.create(library, service.store_of(library), "Cat clips", rule_cls.from_mapping(
        {"query": "a cat", "kind": "video"}))  # fmt: skip
    assert album.error is None and len(album.members) == 1
    hit = album.members[0]
    assert hit["path"] == str(media / "videos" / "party.mp4")
    assert hit["t_start"] == pytest.approx(cuts[0], abs=1 / FPS + 0.26) and hit["segment"] == 2
    assert hit["t_start"] <= hit["t"] < hit["t_end"]  # the moment: the shot's best-matching frame
    result = export(library.catalog, album, str(tmp_path / "cats.m3u"), "m3u")
    lines = (tmp_path / "cats.m3u").read_text().splitlines()
    assert lines[0] == "#EXTM3U" and result.written == 1
    start = next(line for line in lines if line.startswith("#EXTVLCOPT:start-time="))
    assert float(start.split("=", 1)[1]) == pytest.approx(hit["t"])
    assert any(line.startswith("#EXTINF:") and "party.mp4 @ 00:00:0" in line for line in lines)
    assert lines[-1] == str(media / "videos" / "party.mp4")


def test_exports_links_and_json(ml_library: Any, tmp_path: Path) -> None:
    from chronicon_albums.export import ExportError, export

    library, media, _ = ml_library
    service, _rule = _albums()
    store = service.store_of(library)
    album = store.get("Cats 🐈") or service.create(library, store, "Cats 🐈", _rule.from_mapping(
        {"query": "a cat", "kind": "image"}))  # fmt: skip
    assert album.members
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "001 - chelsea.jpg").write_text("the user's own file")  # a name clash with a non-link
    (dest / "notes.txt").write_text("keep me")
    (dest / "900 - mine.jpg").symlink_to(media / "photos" / "moon.jpg")  # the user's own link, named like ours
    result = export(library.catalog, album, str(dest), "links")
    links = sorted(p for p in dest.iterdir() if p.is_symlink() and p.name != "900 - mine.jpg")
    assert len(links) == len(album.members) - 1 and result.skipped
    manifest = json.loads((dest / ".chronicon-album.json").read_text())
    assert manifest["album"] == album.name and sorted(manifest["links"]) == [p.name for p in links]
    assert (dest / "001 - chelsea.jpg").read_text() == "the user's own file"
    for link in links:
        rank = int(link.name.split(" - ", 1)[0])
        assert link.resolve() == Path(album.members[rank - 1]["path"]).resolve()
    (dest / "001 - chelsea.jpg").unlink()
    again = export(library.catalog, album, str(dest), "links")  # replaces our links, keeps the rest
    assert again.removed == len(links) and again.written == len(album.members)
    assert (dest / "notes.txt").read_text() == "keep me"
    assert (dest / "900 - mine.jpg").resolve() == (media / "photos" / "moon.jpg").resolve()  # not on our list
    assert (dest / "001 - chelsea.jpg").resolve() == (media / "photos" / "chelsea.jpg").resolve()
    listed = json.loads((dest / ".chronicon-album.json").read_text())["links"]
    replaced = dest / listed[-1]
    replaced.unlink()
    replaced.write_text("the user put a file where our link was")  # listed, but no longer a symlink: kept
    third = export(library.catalog, album, str(dest), "links")
    assert third.removed == len(listed) - 1 and replaced.read_text().startswith("the user put")
    assert (dest / "900 - mine.jpg").is_symlink()
    export(library.catalog, album, str(tmp_path / "cats.json"), "json")
    doc = json.loads((tmp_path / "cats.json").read_text())
    assert doc["rule"] == {"kind": "image", "query": "a cat"} and doc["members"][0]["rank"] == 1
    assert [m["id"] for m in doc["members"]] == [m["id"] for m in album.members]
    with pytest.raises(ExportError):
        export(library.catalog, album, str(media / "photos"), "links")  # never into the photo folders
    with pytest.raises(ExportError):
        export(library.catalog, album, str(media / "photos" / "list.m3u"), "m3u")
    assert not (media / "photos" / "list.m3u").exists()


def test_routes(ml_library: Any) -> None:
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    library, media, _ = ml_library
    app = fastapi.FastAPI()
    library.plugins.call("chronicon_register_routes", app=app, library=library)
    client = TestClient(app)
    made = client.post("/api/albums", json={"name": "Coffee", "query": "a cup of coffee", "kind": "image"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["name"] == "Coffee" and body["count"] == len(body["items"]) > 0
    assert body["items"][0]["path"] == str(media / "photos" / "coffee.jpg") and body["items"][0]["rank"] == 1
    assert client.post("/api/albums", json={"name": "coffee", "query": "x"}).status_code == 409
    bad = client.post("/api/albums", json={"name": "Bad", "after": "yesterday"})
    assert bad.status_code == 400 and "not a date" in bad.json()["detail"]
    assert client.post("/api/albums", json={"name": "Bad", "colour": "red"}).status_code == 400
    listed = client.get("/api/albums").json()["albums"]
    coffee = next(a for a in listed if a["name"] == "Coffee")
    assert coffee["count"] == body["count"] and coffee["rule"]["query"] == "a cup of coffee" and coffee["error"] is None
    got = client.get("/api/albums/Coffee").json()
    assert [i["id"] for i in got["items"]] == [i["id"] for i in body["items"]]
    missing = client.get("/api/albums/Nope")
    assert missing.status_code == 404 and "no album named" in missing.json()["detail"]
    with ScanLock(library.catalog_dir):
        locked = client.post("/api/albums", json={"name": "Later", "labels": ["cup"]})
    assert locked.status_code == 409 and locked.json()["detail"] == "a scan is running, try again"
    assert client.delete("/api/albums/Coffee").json() == {"deleted": "Coffee"}
    assert client.get("/api/albums/Coffee").status_code == 404


# -- filters without ML: dates, cameras, GPS; incremental rebuilds -----------------------------------------
@pytest.fixture
def photo_library(tmp_path: Path, model_cache: Path) -> Callable[..., tuple[Library, Path]]:
    media = tmp_path / "media"
    media.mkdir()
    make_jpeg(media / "berlin.jpg", gps=(52.52, 13.405, 34.0), taken_at="2021:07:04 15:30:00")
    make_jpeg(media / "paris.jpg", gps=(48.8566, 2.3522, 35.0), taken_at="2022:03:01 10:00:00", make="NIKON",
              model="Z 6")  # fmt: skip
    make_jpeg(media / "nowhere.jpg", gps=None, taken_at="2019:12:31 23:00:00", color=(20, 200, 30))

    def build(**extra: Any) -> tuple[Library, Path]:
        return _lib(tmp_path / "catalog", ml=False, model_cache=model_cache, **extra), media

    return build


def _names(album: Any) -> list[str]:
    return [Path(m["path"]).name for m in album.members]


def test_date_camera_and_gps_rules(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    library, media = photo_library()
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    berlin = service.create(library, store, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    assert _names(berlin) == ["berlin.jpg"]
    nikon = service.create(library, store, "Nikon", rule_cls.from_mapping({"camera": "nikon"}))
    assert _names(nikon) == ["paris.jpg"]
    recent = service.create(library, store, "Recent", rule_cls.from_mapping({"after": "2021", "before": "2022-06"}))
    assert _names(recent) == ["paris.jpg", "berlin.jpg"]  # newest first
    old = service.create(library, store, "Old", rule_cls.from_mapping({"before": "2020", "kind": "image"}))
    assert _names(old) == ["nowhere.jpg"]
    capped = service.create(library, store, "Capped", rule_cls.from_mapping({"kind": "image", "limit": 2}))
    assert len(capped.members) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, "unknown album filter 'colour'"),
        ({"after": "last summer"}, "not a date"),
        ({"gps": "1,2,3"}, "four numbers"),
        ({"gps": "50,10,40,20"}, "south <= north"),
        ({"kind": "audio"}, "kind must be image or video"),
        ({}, "needs a query or at least one filter"),
        ({"labels": ["dog"], "limit": 0}, "max_items"),
    ],
)
def test_bad_rules_are_clear_errors(data: dict[str, Any], message: str) -> None:
    _service, rule_cls = _albums()
    from chronicon_albums.rules import RuleError

    with pytest.raises(RuleError, match=message):
        rule_cls.from_mapping(data, known={})  # no plugin filters are registered


def test_rule_json_round_trip() -> None:
    _service, rule_cls = _albums()
    rule = rule_cls.from_mapping({"query": "dog in a lake", "label": ["Dog"], "after": "2023", "gps": [1, 2, 3, 4],
                                  "person": ["Alice", "Bob"], "min_aesthetic": 0.6, "sort": "aesthetic"})  # fmt: skip
    assert rule.labels == ["dog"] and rule.gps == "1,2,3,4" and rule.people == ["Alice", "Bob"]
    assert rule_cls.from_json(rule.to_json()) == rule
    assert rule.plugin_filters() == ["person", "min_aesthetic"]
    assert rule.to_dict()["person"] == ["Alice", "Bob"] and rule.to_dict()["min_aesthetic"] == 0.6
    # A rule stored by the first version of the plugin (`people`, a top-level `min_aesthetic`) reads the same.
    old = '{"after": "2023", "gps": "1,2,3,4", "labels": ["dog"], "min_aesthetic": 0.6, "people": ["Alice", "Bob"], ' \
          '"query": "dog in a lake", "sort": "aesthetic"}'  # fmt: skip
    assert rule_cls.from_json(old) == rule


def test_any_registered_filter_is_checked_and_converted() -> None:
    from chronicon.search.extensions import SearchFilter
    from chronicon_albums.rules import NeedsPluginError, RuleError

    _service, rule_cls = _albums()
    known = {"stars": SearchFilter("stars", "at least this many stars", value_type="int", where=lambda v: "true")}
    rule = rule_cls.from_mapping({"stars": "4", "kind": "image"}, known=known)
    assert rule.filters == {"stars": [4]} and json.loads(rule.to_json()) == {"kind": "image", "stars": 4}
    assert rule_cls.from_mapping({"filters": {"stars": [3, "5"]}}, known=known).filters == {"stars": [3, 5]}
    with pytest.raises(RuleError, match=r"unknown album filter 'colour' \(known: .*plugin filters: stars"):
        rule_cls.from_mapping({"colour": "red"}, known=known)
    with pytest.raises(RuleError, match="stars: --stars 'many': expected a finite number"):
        rule_cls.from_mapping({"stars": "many"}, known=known)
    with pytest.raises(NeedsPluginError, match=r"'person' filter \(from the faces plugin\)"):
        rule_cls.from_mapping({"people": ["Alice"]}, known=known)
    with pytest.raises(RuleError, match="given twice"):
        rule_cls.from_mapping({"people": ["Alice"], "person": "Bob"}, known=known)


def test_rules_needing_a_missing_plugin(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    library, media = photo_library()
    library.scan([media])
    service, rule_cls = _albums()
    from chronicon_albums.rules import NeedsPluginError

    store = service.store_of(library)
    assert "person" not in library.search_filters  # the faces plugin is off in these tests
    with pytest.raises(NeedsPluginError, match=r"'person' filter .*faces plugin"):
        service.create(library, store, "Us", rule_cls.from_mapping({"people": ["Alice"]}))
    assert store.get("Us") is None


def test_incremental_rebuilds(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    library, media = photo_library(**{"scan.missing_grace_days": 0})
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    service.create(library, store, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    service.create(library, store, "Nikon", rule_cls.from_mapping({"camera": "nikon"}))
    before = {a.name: a.evaluated_at for a in store.all()}

    make_jpeg(media / "berlin2.jpg", gps=(52.50, 13.30, 40.0), taken_at="2023:01:02 09:00:00", color=(10, 10, 200))
    summary = library.scan([media])
    berlin, nikon = store.get("Berlin"), store.get("Nikon")
    assert berlin is not None and nikon is not None
    assert _names(berlin) == ["berlin2.jpg", "berlin.jpg"] and not berlin.dirty
    assert nikon.evaluated_at == before["Nikon"]  # a Canon photo in Berlin cannot change a Nikon album
    assert any("albums rebuilt: Berlin (2)" in note for note in summary.notes)

    stamps = {a.name: a.evaluated_at for a in store.all()}
    summary = library.scan([media])  # nothing changed: nothing is rebuilt
    assert {a.name: a.evaluated_at for a in store.all()} == stamps
    assert not any("albums" in note for note in summary.notes)

    (media / "berlin.jpg").unlink()
    library.scan([media])
    berlin = store.get("Berlin")
    assert berlin is not None and _names(berlin) == ["berlin2.jpg"]
    assert store.get("Nikon").evaluated_at == before["Nikon"]  # type: ignore[union-attr]


def test_a_crash_before_the_rebuild_is_caught_up(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    library, media = photo_library()
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    service.create(library, store, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    make_jpeg(media / "berlin2.jpg", gps=(52.50, 13.30, 40.0), color=(10, 10, 200))
    # A scan by a process without the albums plugin (or one killed before its scan hook) writes the new row.
    _lib(library.catalog_dir, ml=False, model_cache=Path(library.config["model_cache"]), disabled=("albums",)).scan(
        [media]
    )
    assert len(store.get("Berlin").members) == 1  # type: ignore[union-attr]
    later, _ = photo_library()  # the next scan, in a new process
    later.scan([media])  # unchanged on disk, but the catalog says what this album missed
    assert _names(store.get("Berlin")) == ["berlin2.jpg", "berlin.jpg"]


def test_config_albums(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    define = [
        {"name": "Lake Berlin", "gps": "52.3,13.0,52.7,13.8", "after": "2021"},
        {"name": "Broken", "after": "someday"},
        {"name": "Faces", "person": ["Alice"]},
    ]
    library, media = photo_library(**{"albums.define": define})
    library.scan([media])
    service, _rule = _albums()
    store = service.store_of(library)
    albums = {a.name: a for a in store.all()}
    assert set(albums) == {"Lake Berlin", "Broken", "Faces"} and all(a.source == "config" for a in albums.values())
    assert _names(albums["Lake Berlin"]) == ["berlin.jpg"] and albums["Lake Berlin"].error is None
    assert "not a date" in (albums["Broken"].error or "")
    assert "faces plugin" in (albums["Faces"].error or "")
    with pytest.raises(service.ConfigAlbumError, match="config file"):
        service.delete(library, store, "Lake Berlin")
    # Edited config: the changed album is rebuilt, the removed one leaves the table.
    library2, _ = photo_library(**{"albums.define": [{"name": "Lake Berlin", "camera": "canon"}]})
    library2.scan([media])
    albums = {a.name: a for a in store.all()}
    assert set(albums) == {"Lake Berlin"} and _names(albums["Lake Berlin"]) == ["berlin.jpg", "nowhere.jpg"]


def test_everything_works_with_the_plugin_disabled(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    library, media = photo_library(**{"plugins.disabled": [*OTHER_PLUGINS, "albums"]})
    summary = library.scan([media])
    assert summary.counts["new"] == 3 and not summary.plugin_problems
    assert "albums" not in [p.name for p in library.plugins.infos if p.enabled]
    assert "albums_albums" not in set(library.catalog.db.list_tables().tables)
    assert [h.path for h in library.browse(camera="nikon")] == [str(media / "paris.jpg")]


# -- plugin filters: several people must all be in a picture -----------------------------------------------
STAND_IN = '''"""A stand-in for the faces and aesthetic plugins: who is in which file, from a JSON file."""
import json, os
from chronicon.hookspecs import hookimpl
from chronicon.search.extensions import SearchFilter, SortKey

PLUGIN_NAME = "standin"


def _people(catalog, name):
    data = json.loads(open(os.environ["STANDIN_PEOPLE"]).read())
    rows = [catalog.row_by_path(p) for p in data.get(name, [])]
    return {r["id"] for r in rows if r}


@hookimpl
def chronicon_register_search_filters():
    return [SearchFilter("person", "shows this person", asset_ids=_people),
            SearchFilter("min_aesthetic", "brightness at least", value_type="float",
                         where=lambda v: f"brightness >= {float(v)}"),
            SearchFilter("max_brightness", "brightness at most", value_type="float",
                         where=lambda v: f"brightness <= {float(v)}"),
            SortKey("bright", "brightness", "brightest first")]
'''


def test_people_filters_all_must_match(tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for n, shade in enumerate((40, 120, 200)):
        make_jpeg(media / f"p{n}.jpg", color=(shade, shade, shade), pattern=False)
    folder = tmp_path / "standin"
    folder.mkdir()
    (folder / "standin.py").write_text(STAND_IN)
    people = {"Alice": [str(media / "p0.jpg"), str(media / "p1.jpg"), str(media / "p2.jpg")],
              "Bob": [str(media / "p1.jpg"), str(media / "p2.jpg")], "Carol": [str(media / "p2.jpg")]}  # fmt: skip
    (tmp_path / "people.json").write_text(json.dumps(people))
    monkeypatch.setenv("STANDIN_PEOPLE", str(tmp_path / "people.json"))
    library = _lib(tmp_path / "catalog", ml=False, model_cache=model_cache,
                   **{"plugins.paths": [str(PLUGINS_DIR), str(folder)]})  # fmt: skip
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    both = service.create(library, store, "Alice and Bob", rule_cls.from_mapping({"people": ["Alice", "Bob"]}))
    assert sorted(_names(both)) == ["p1.jpg", "p2.jpg"]
    three = service.create(library, store, "All three", rule_cls.from_mapping({"people": ["Alice", "Bob", "Carol"]}))
    assert _names(three) == ["p2.jpg"]
    bright = service.create(library, store, "Bright", rule_cls.from_mapping(
        {"people": ["Alice"], "min_aesthetic": 0.3, "sort": "bright"}))  # fmt: skip
    assert _names(bright) == ["p2.jpg", "p1.jpg"]  # the darkest is left out; brightest first
    # Without the stand-in plugin the same stored albums report what they need, and nothing crashes.
    plain = _lib(tmp_path / "catalog", ml=False, model_cache=model_cache)
    done = {a.name: a for a in service.refresh(plain, service.store_of(plain))}
    assert "'person' filter" in (done["Alice and Bob"].error or "") and done["Alice and Bob"].members
    assert "sort key 'bright'" in (done["Bright"].error or "")


def test_any_plugin_filter_in_config_cli_and_api(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for n, shade in enumerate((40, 120, 200)):
        make_jpeg(media / f"p{n}.jpg", color=(shade, shade, shade), pattern=False)
    folder = tmp_path / "standin"
    folder.mkdir()
    (folder / "standin.py").write_text(STAND_IN)
    (tmp_path / "people.json").write_text("{}")
    monkeypatch.setenv("STANDIN_PEOPLE", str(tmp_path / "people.json"))
    define = [{"name": "Dark", "max_brightness": 0.3}, {"name": "Typo", "max_brightnes": 0.3}]
    paths = [str(PLUGINS_DIR), str(folder)]
    library = _lib(tmp_path / "catalog", ml=False, model_cache=model_cache,
                   **{"plugins.paths": paths, "albums.define": define})  # fmt: skip
    library.scan([media])
    service, _rule = _albums()
    albums = {a.name: a for a in service.store_of(library).all()}
    assert _names(albums["Dark"]) == ["p0.jpg"] and albums["Dark"].rule_data == {"max_brightness": 0.3}
    assert "'max_brightnes' filter" in (albums["Typo"].error or "")
    assert "max_brightness" in (albums["Typo"].error or "")  # the error lists the known ones
    # The command line: --filter NAME=VALUE (CLI spelling with dashes too), repeatable.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"catalog": str(library.catalog_dir), "albums": {"define": define},
                                  "plugins": {"disabled": list(OTHER_PLUGINS), "paths": paths},
                                  **{k.split(".")[0]: {"enabled": False} for k in NO_ML}}))  # fmt: skip
    code, out, err = _cli(config, "album", "create", "Mid", "--filter", "max-brightness=0.6",
                          "--filter", "min_aesthetic=0.3", "--json", capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert [Path(i["path"]).name for i in json.loads(out)["items"]] == ["p1.jpg"]
    for bad, message in (
        (["--filter", "colour=red"], "unknown album filter 'colour'"),
        (["--filter", "max_brightness"], "NAME=VALUE"),
        (["--filter", "max_brightness=dim"], "expected a finite number"),
        (["--filter", "kind=video"], "use --kind"),
    ):
        code, out, err = _cli(config, "album", "create", "Bad", *bad, capsys=capsys)
        assert code == 2 and message in err, err
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    app = fastapi.FastAPI()
    library.plugins.call("chronicon_register_routes", app=app, library=library)
    client = TestClient(app)
    made = client.post("/api/albums", json={"name": "Bright", "min_aesthetic": "0.7"})
    assert made.status_code == 201, made.text
    assert [Path(i["path"]).name for i in made.json()["items"]] == ["p2.jpg"]
    bad = client.post("/api/albums", json={"name": "X", "shade": "red"})
    assert bad.status_code == 400 and "unknown album filter 'shade'" in bad.json()["detail"]
    assert "max_brightness" in bad.json()["detail"]


# -- readers take no lock; the web app's GETs run in parallel -------------------------------------------------
def _count_locks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every ScanLock.acquire (its `wait`), still taking the real lock."""
    waits: list[float] = []
    real = ScanLock.acquire

    def acquire(self: ScanLock, wait: float = 0.0) -> None:
        waits.append(wait)
        real(self, wait)

    monkeypatch.setattr(ScanLock, "acquire", acquire)
    return waits


def test_reads_do_not_lock_and_dirty_albums_are_evaluated_in_memory(
    photo_library: Callable[..., tuple[Library, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    library, media = photo_library(**{"albums.define": [{"name": "Canon", "camera": "canon"}]})
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    service.create(library, store, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    waits = _count_locks(monkeypatch)
    view = service.current(library, store)  # config unchanged: compared without the lock
    assert {a.name for a in view.albums} == {"Berlin", "Canon"} and not view.problems
    assert service.fresh(library, store, view.find("berlin")).name == "Berlin"
    assert waits == []
    # A dirty album while a scan holds the catalog: evaluated for the reader, stored by nobody.
    store.mark_dirty(["Berlin"])
    with ScanLock(library.catalog_dir):
        waits.clear()
        shown = service.fresh(library, store, service.current(library, store).find("Berlin"))
        assert _names(shown) == ["berlin.jpg"] and not shown.dirty and shown.error is None
        assert waits == [0.0]  # one try, no waiting
        assert store.get("Berlin").dirty  # type: ignore[union-attr]
    # With the catalog free, the reader's evaluation is stored (at once, without waiting).
    shown = service.fresh(library, store, service.current(library, store).find("Berlin"))
    stored = store.get("Berlin")
    assert stored is not None and not stored.dirty and stored.members == shown.members
    # An evaluation that a scan overtook is not stored over the scan's newer result.
    store.mark_dirty(["Berlin"])
    before = store.get("Berlin")
    assert before is not None
    late = service.evaluated(library, before)
    make_jpeg(media / "berlin2.jpg", gps=(52.50, 13.30, 40.0), taken_at="2023:01:02 09:00:00", color=(9, 9, 200))
    library.scan([media])
    assert not service.store_if_unchanged(library, store, before, late, wait=0.0)
    assert _names(store.get("Berlin")) == ["berlin2.jpg", "berlin.jpg"]  # type: ignore[arg-type]
    # A changed config is stored once, by the first reader (a short wait for the lock), then read lock-free.
    edited, _ = photo_library(**{"albums.define": [{"name": "Canon", "camera": "canon", "kind": "image"}]})
    waits.clear()
    assert service.current(edited, store).find("Canon").dirty
    assert waits == [service.CONFIG_WAIT] and store.get("Canon").rule_data["kind"] == "image"  # type: ignore[union-attr]
    service.current(edited, store)
    assert waits == [service.CONFIG_WAIT]
    # While a scan runs, a changed config is shown as defined (in memory) and not stored.
    again, _ = photo_library(**{"albums.define": [{"name": "Nikon", "camera": "nikon"}]})
    with ScanLock(library.catalog_dir):
        view = service.current(again, store)
        assert {a.name for a in view.albums} == {"Berlin", "Nikon"}
        assert _names(service.fresh(again, store, view.find("Nikon"))) == ["paris.jpg"]
    assert {a.name for a in store.all()} == {"Berlin", "Canon"}


def test_routes_answer_parallel_reads_and_declare_errors(
    photo_library: Callable[..., tuple[Library, Path]],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    define = [{"name": f"Cfg {n}", "kind": "image", "limit": n} for n in range(1, 4)]
    library, media = photo_library(**{"albums.define": define})
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    service.create(library, store, "Recent", rule_cls.from_mapping({"after": "2021"}))
    store.mark_dirty(["Recent", "Cfg 1", "Cfg 2", "Cfg 3"])
    app = fastapi.FastAPI()
    library.plugins.call("chronicon_register_routes", app=app, library=library)
    client = TestClient(app)
    paths = ["/api/albums", "/api/albums/Recent", "/api/albums/cfg 1", "/api/albums/Cfg 2", "/api/albums/CFG 3"] * 6
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(client.get, paths))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    for path, answer in zip(paths, answers, strict=True):
        if path.endswith("Recent"):
            assert [Path(i["path"]).name for i in answer.json()["items"]] == ["paris.jpg", "berlin.jpg"]
        elif path != "/api/albums":
            assert answer.json()["count"] == int(path[-1]) and answer.json()["error"] is None
    # Readers store an evaluation only when the lock is free at once, so in that burst some may all have lost the
    # race; one quiet read each then stores what is still dirty.
    for name in ("Recent", "Cfg 1", "Cfg 2", "Cfg 3"):
        assert client.get(f"/api/albums/{name}").status_code == 200
    assert not any(a.dirty for a in store.all())
    spec = client.get("/openapi.json").json()["paths"]
    assert {"201", "400", "409"} <= set(spec["/api/albums"]["post"]["responses"])
    assert "404" in spec["/api/albums/{name}"]["get"]["responses"]
    assert {"404", "409"} <= set(spec["/api/albums/{name}"]["delete"]["responses"])
    problem = spec["/api/albums/{name}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert problem["$ref"].endswith("/Problem")


# -- the change record is per catalog ---------------------------------------------------------------------
class _FailsAtTheEnd:
    """A scan progress that raises once the scan has committed its rows (before the scan hook runs)."""

    def stage(self, name: str, total: int | None) -> None:
        if name == "updating search indexes":
            raise RuntimeError("the scan broke after its commits")

    def advance(self, n: int = 1) -> None:
        pass

    def detail(self, text: str) -> None:
        pass


def test_a_failed_scan_leaves_nothing_for_another_catalog(tmp_path: Path, model_cache: Path) -> None:
    import chronicon_albums
    from chronicon_albums.tracking import catalog_key

    service, rule_cls = _albums()
    media_a, media_b = tmp_path / "a", tmp_path / "b"
    media_a.mkdir()
    media_b.mkdir()
    make_jpeg(media_b / "berlin.jpg", gps=(52.52, 13.405, 34.0), taken_at="2021:07:04 15:30:00")
    make_jpeg(media_a / "berlin-a.jpg", gps=(52.51, 13.40, 30.0), taken_at="2022:07:04 15:30:00", color=(9, 9, 9))
    lib_b = _lib(tmp_path / "catalog-b", ml=False, model_cache=model_cache)
    lib_b.scan([media_b])
    store_b = service.store_of(lib_b)
    service.create(lib_b, store_b, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    stamp = store_b.get("Berlin").evaluated_at  # type: ignore[union-attr]
    lib_a = _lib(tmp_path / "catalog-a", ml=False, model_cache=model_cache)
    with pytest.raises(RuntimeError, match="broke"):
        lib_a.scan([media_a], progress=_FailsAtTheEnd())
    key_a, key_b = catalog_key(lib_a.catalog_dir), catalog_key(tmp_path / "." / "catalog-b")
    assert set(chronicon_albums.TRACKER.pending(key_a).indexed) == {lib_a.info(media_a / "berlin-a.jpg")["id"]}  # type: ignore[index]
    assert not chronicon_albums.TRACKER.pending(key_b)
    summary = lib_b.scan([media_b])  # nothing changed in B: A's Berlin photo must not make B rebuild
    assert store_b.get("Berlin").evaluated_at == stamp  # type: ignore[union-attr]
    assert not any("albums" in note for note in summary.notes)
    assert chronicon_albums.TRACKER.pending(key_a)  # still A's, for A's next scan
    lib_a.scan([media_a])
    assert not chronicon_albums.TRACKER.pending(key_a)


def test_catch_up_loads_only_rows_it_did_not_see(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    from chronicon_albums.tracking import Changes, catch_up

    library, media = photo_library()
    library.scan([media])
    service, rule_cls = _albums()
    store = service.store_of(library)
    service.create(library, store, "Berlin", rule_cls.from_mapping({"gps": "52.3,13.0,52.7,13.8"}))
    make_jpeg(media / "berlin2.jpg", gps=(52.50, 13.30, 40.0), color=(10, 10, 200))
    make_jpeg(media / "rome.jpg", gps=(41.9, 12.5, 20.0), color=(200, 10, 10))
    _lib(library.catalog_dir, ml=False, model_cache=Path(library.config["model_cache"]), disabled=("albums",)).scan(
        [media]
    )
    berlin2 = library.info(media / "berlin2.jpg")["id"]  # type: ignore[index]
    rome = library.info(media / "rome.jpg")["id"]  # type: ignore[index]

    class Recording:
        """The real catalog, noting which ids are loaded by id."""

        def __init__(self, catalog: Any) -> None:
            self.catalog, self.loaded = catalog, set()  # type: set[str]

        def __getattr__(self, name: str) -> Any:
            return getattr(self.catalog, name)

        def rows_by_id(self, ids: Any, columns: Any = None) -> dict[str, dict[str, Any]]:
            ids = list(ids)
            if columns and "gps_lat" in columns:
                self.loaded |= set(ids)
            return self.catalog.rows_by_id(ids, columns)

    recording = Recording(library.catalog)
    seen = Changes(indexed={berlin2: ("image", {"id": berlin2})})
    extra = catch_up(recording, store.all(), seen)
    assert set(extra.indexed) == {rome} and recording.loaded == {rome}
    from chronicon_albums.tracking import affects

    assert not affects(store.get("Berlin"), extra)  # type: ignore[arg-type]  # Rome is outside the box
    assert affects(store.get("Berlin"), seen) and affects(store.get("Berlin"), Changes(  # type: ignore[arg-type]
        indexed={"x": ("image", {"gps_lat": 52.4, "gps_lon": 13.5})}))  # fmt: skip


# -- the command line ---------------------------------------------------------------------------------------
def _cli(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from chronicon.cli import main

    try:
        main(["--config", str(config), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(photo_library: Callable[..., tuple[Library, Path]], tmp_path: Path, capsys: Any) -> None:
    library, media = photo_library()
    library.scan([media])
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "catalog": str(library.catalog_dir),
                "plugins": {"disabled": list(OTHER_PLUGINS)},  # the bundled plugins load as entry points
                **{k.split(".")[0]: {"enabled": False} for k in NO_ML},
                "albums": {"define": [{"name": "From config", "camera": "canon"}]},
            }
        )
    )
    code, out, err = _cli(config, "album", "create", "Berlin", "--gps", "52.3,13.0,52.7,13.8", "--json",
                          capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["count"] == 1 and json.loads(out)["items"][0]["path"] == str(media / "berlin.jpg")
    code, out, err = _cli(config, "album", "create", "berlin", "--camera", "x", capsys=capsys)
    assert code == 2 and "exists already" in err
    for bad, message in (
        (["--after", "soon"], "not a date"),
        (["--gps", "1,2"], "four numbers"),
        (["--person", "Alice"], "faces plugin"),
        (["--camera", "canon", "--sort", "no_such_key"], "sort key 'no_such_key'"),
        (["--camera", "canon", "--kind", "audio"], "Invalid value for '--kind'"),
        (["--filter", "colour=red"], "unknown album filter 'colour' (known: after"),
    ):
        code, out, err = _cli(config, "album", "create", "Bad", *bad, capsys=capsys)
        assert code == 2 and message in err, err
    code, out, err = _cli(config, "album", "list", "--json", capsys=capsys)
    listed = {a["name"]: a for a in json.loads(out)["albums"]}
    assert set(listed) == {"Berlin", "From config"} and listed["From config"]["source"] == "config"
    code, out, err = _cli(config, "album", "show", "From config", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["count"] == 2 and not json.loads(out)["dirty"]
    code, out, err = _cli(config, "album", "show", "Berlin", capsys=capsys)
    assert code == 0 and "berlin.jpg" in out
    code, out, err = _cli(config, "album", "show", "From config", "-f", capsys=capsys)
    assert code == 0 and out.splitlines() and all(os.path.isfile(p) for p in out.splitlines()), out
    code, out, err = _cli(config, "album", "list", capsys=capsys)
    assert code == 0 and "Berlin" in out and "From config" in out
    code, out, err = _cli(config, "album", "delete", "From config", capsys=capsys)
    assert code == 2 and "config file" in err
    code, out, err = _cli(config, "album", "refresh", "--json", capsys=capsys)
    assert code == 0 and len(json.loads(out)["albums"]) == 2
    dest = tmp_path / "links"
    code, out, err = _cli(config, "album", "export", "Berlin", str(dest), "--format", "links", capsys=capsys)
    assert code == 0 and os.readlink(dest / "001 - berlin.jpg") == str(media / "berlin.jpg")
    assert json.loads((dest / ".chronicon-album.json").read_text())["links"] == ["001 - berlin.jpg"]
    code, out, err = _cli(config, "album", "export", "Berlin", str(media), capsys=capsys)
    assert code == 2 and "catalogued" in err
    code, out, err = _cli(config, "album", "delete", "Berlin", "--json", capsys=capsys)
    assert code == 0 and json.loads(out) == {"deleted": "Berlin"}
    code, out, err = _cli(config, "album", "show", "Berlin", capsys=capsys)
    assert code == 2 and "no album named 'Berlin'" in err
    with ScanLock(library.catalog_dir):
        code, out, err = _cli(config, "album", "create", "Later", "--camera", "canon", capsys=capsys)
    assert code == 3 and "scan" in err


def test_cli_refuses_an_overlong_album_name(
    photo_library: Callable[..., tuple[Library, Path]], tmp_path: Path, capsys: Any
) -> None:
    library, media = photo_library()
    library.scan([media])
    config = tmp_path / "config.yaml"
    settings = {"catalog": str(library.catalog_dir), "plugins": {"disabled": list(OTHER_PLUGINS)},
                **{k.split(".")[0]: {"enabled": False} for k in NO_ML}}  # fmt: skip
    config.write_text(json.dumps(settings))
    code, out, err = _cli(config, "album", "create", "N" * 100_000, "--camera", "canon", capsys=capsys)
    assert code == 2 and "album name: at most 200 characters, not 100000" in err, err[:300]
    assert len(err) < 1000  # the name is not echoed back whole
    code, out, err = _cli(config, "album", "create", "Q", "q" * 5000, capsys=capsys)
    assert code == 2 and "query: at most 1000 characters" in err
    code, out, err = _cli(config, "album", "list", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["albums"] == []
    code, out, err = _cli(config, "album", "create", "N" * 200, "--camera", "canon", capsys=capsys)
    assert code == 0, err  # the limit itself is fine


# -- the plugin on the public API only ------------------------------------------------------------------------
def test_shortcut_options_are_plugin_filters_like_any_other() -> None:
    """`--person NAME` and `--min-aesthetic X` are `--filter person=NAME` and `--filter min_aesthetic=X`: the
    registry (`known`) decides whether they can be used, the same way as for any filter."""
    from chronicon.api import SearchFilter
    from chronicon_albums.commands import _rule_data
    from chronicon_albums.rules import NeedsPluginError

    _service, rule_cls = _albums()
    data = _rule_data(None, {"people": ("Alice",), "min_aesthetic": 0.5, "plugin_filters": ("person=Bob",)})
    assert data["filters"] == {"person": ["Bob", "Alice"], "min_aesthetic": [0.5]}
    known = {"person": SearchFilter("person", "shows this person", asset_ids=lambda catalog, value: set())}
    with pytest.raises(NeedsPluginError, match=r"'min_aesthetic' filter .*aesthetic plugin.*loaded: person"):
        rule_cls.from_mapping(data, known=known)
    known["min_aesthetic"] = SearchFilter("min_aesthetic", "at least", value_type="float", where=lambda v: "true")
    assert rule_cls.from_mapping(data, known=known).filters == {"person": ["Bob", "Alice"], "min_aesthetic": [0.5]}


def test_albums_live_in_a_plugin_table(photo_library: Callable[..., tuple[Library, Path]]) -> None:
    from chronicon_albums.store import SCHEMA, TABLE

    library, media = photo_library()
    library.scan([media])
    service, rule_cls = _albums()
    table = library.catalog.plugin_table(TABLE, SCHEMA, key=["key"])
    service.create(library, service.store_of(library), "Nikon", rule_cls.from_mapping({"camera": "nikon"}))
    service.create(library, service.store_of(library), "nikon", rule_cls.from_mapping({"camera": "z"}), replace=True)
    assert table.rows(["key", "name", "count"]) == [{"key": "nikon", "name": "nikon", "count": 1}]
    service.delete(library, service.store_of(library), "NIKON")
    assert table.count() == 0


def test_catch_up_compares_the_stamp_as_before() -> None:
    """The typed filter renders an album's stamp (`now_iso`: UTC) as the naive UTC timestamp literal that the SQL
    text of the first version used (`timestamp 'YYYY-MM-DD HH:MM:SS.ffffff'`)."""
    from datetime import UTC, datetime

    from chronicon.api import col
    from chronicon_albums.store import now_iso
    from chronicon_albums.tracking import _utc_wall_clock

    for text in (now_iso(), "2024-05-06T07:08:09.000000+00:00", "2024-05-06T09:08:09.123456+02:00"):
        moment = datetime.fromisoformat(text)
        rendered = (col("updated_at") > _utc_wall_clock(moment)).sql()
        assert rendered.startswith("updated_at > timestamp '") and rendered.endswith("'")
        literal = datetime.fromisoformat(rendered.removeprefix("updated_at > timestamp '")[:-1])
        first_version = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        assert literal.tzinfo is None and literal == datetime.strptime(first_version, "%Y-%m-%d %H:%M:%S.%f")


def test_storage_answers_are_public_api() -> None:
    import ast
    import inspect

    import chronicon.api.web
    from chronicon.api import storage_message, storage_status
    from chronicon.web import wording

    assert wording.storage_message is storage_message and wording.storage_status is storage_status
    tree = ast.parse(inspect.getsource(chronicon.api.web))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(("fastapi", "chronicon.web"))]
