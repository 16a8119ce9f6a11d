"""Stacks in search, browse, info and the web API: a member's match is credited to its cover, each stack is one
result, `expand_stacks` lists every member, and a member whose cover the filters leave out stays itself.

The stack here comes from a test plugin (a pass that declares the column and a registered StackKind), with the
cover ids written into the catalog, so the mechanism is tested apart from any one grouping rule."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ai_edge_litert")

from chronicon.analyzers.stacks import StackKind, validate_stack
from chronicon.plugins import PluginHost

PLUGIN = textwrap.dedent("""
    import pyarrow as pa
    from chronicon.api import PerItemAnalyzer, StackKind, hookimpl
    from chronicon.types import MediaKind, Phase

    class GroupPass(PerItemAnalyzer):
        name = "grouptest"
        version = 1
        phase = Phase.METADATA
        kinds = frozenset(MediaKind)
        columns = {"group_cover": pa.string()}

        def analyze(self, item):
            return {"group_cover": None}

    @hookimpl
    def chronicon_register_analyzers():
        return [GroupPass]

    @hookimpl
    def chronicon_register_stacks():
        return [StackKind("group", "group_cover", "test group", owner="grouptest")]
""")


@pytest.fixture(scope="module")
def stacked(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    """coffee.jpg (the cover) and chelsea.jpg (the cat) in one stack; rocket.jpg and horse.jpg alone."""
    from chronicon.library import Library

    root = tmp_path_factory.mktemp("stacks")
    plugin_dir = root / "plugin"
    plugin_dir.mkdir()
    (plugin_dir / "grouptest.py").write_text(PLUGIN)
    library_dir = root / "library"
    (library_dir / "a").mkdir(parents=True)
    (library_dir / "b").mkdir()
    shutil.copy(sample_photos / "coffee.jpg", library_dir / "a" / "coffee.jpg")
    shutil.copy(sample_photos / "chelsea.jpg", library_dir / "b" / "chelsea.jpg")
    for name in ("rocket", "horse"):
        shutil.copy(sample_photos / f"{name}.jpg", library_dir / "a" / f"{name}.jpg")
    settings = {"clip.enabled": False, "model_cache": str(model_cache), "tags.enabled": True, "ocr.enabled": False,
                "plugins.paths": [str(plugin_dir)]}  # fmt: skip
    library = Library(root / "catalog", overrides=settings, environ={}, entry_points=False)
    library.scan([library_dir])
    cover = library.info(library_dir / "a" / "coffee.jpg")
    member = library.info(library_dir / "b" / "chelsea.jpg")
    assert cover is not None and member is not None
    library.catalog.update_columns(
        [{"id": cover["id"], "group_cover": cover["id"]}, {"id": member["id"], "group_cover": cover["id"]}]
    )
    return library, library_dir, cover["id"], member["id"]


def test_a_members_match_is_shown_as_its_cover(stacked: Any) -> None:
    library, folder, cover, member = stacked
    hits = library.search("cat", limit=10, hybrid=False, show_all=True)
    ids = [h.asset_id for h in hits]
    assert member not in ids and ids.count(cover) == 1, [(h.path, h.why) for h in hits]
    hit = next(h for h in hits if h.asset_id == cover)
    assert hit.rank == 1, [(h.path, h.why) for h in hits]  # the cat ranks first, through its cover
    assert hit.stack is not None and hit.stack["size"] == 2 and hit.stack["label"] == "test group"
    assert hit.stack["via"] == str(folder / "b" / "chelsea.jpg")
    assert sorted(hit.stack["members"]) == sorted([cover, member])
    assert any("chelsea.jpg" in why for why in hit.why)
    assert hit.to_json()["stack"] == hit.stack


def test_expanded_stacks_list_every_member(stacked: Any) -> None:
    library, _, cover, member = stacked
    hits = library.search("cat", limit=10, hybrid=False, show_all=True, expand_stacks=True)
    ids = [h.asset_id for h in hits]
    assert member in ids and cover in ids and ids[0] == member
    assert all(h.stack is None for h in hits)


def test_a_member_whose_cover_is_filtered_out_stays_itself(stacked: Any) -> None:
    library, folder, _, member = stacked
    hits = library.search("cat", limit=10, hybrid=False, show_all=True, under=str(folder / "b"))
    assert [h.asset_id for h in hits] == [member]
    assert hits[0].stack is not None and hits[0].stack["via"] is None  # in a stack, shown as itself


def test_browse_shows_a_stack_once(stacked: Any) -> None:
    library, _, cover, member = stacked
    ids = [h.asset_id for h in library.browse(limit=50)]
    assert cover in ids and member not in ids and len(ids) == 3
    assert len(library.browse(limit=50, expand_stacks=True)) == 4
    shown = next(h for h in library.browse(limit=50) if h.asset_id == cover)
    assert shown.stack is not None and shown.stack["size"] == 2


def test_info_and_the_web_api_list_the_members(stacked: Any) -> None:
    library, folder, cover, member = stacked
    row = library.info(folder / "b" / "chelsea.jpg")
    stack = library.stack_of(row)
    assert stack is not None and stack["cover"] == cover
    assert [(m["id"], m["cover"]) for m in stack["members"]] == [(cover, True), (member, False)]
    assert library.stack_of(library.info(folder / "a" / "rocket.jpg")) is None
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from chronicon.web.app import create_app

    client = TestClient(create_app(library, allowed_hosts=["testserver"]))
    body = client.get(f"/api/assets/{member}").json()
    assert body["stack"]["cover"] == cover and len(body["stack"]["members"]) == 2
    found = client.get("/api/search", params={"q": "cat", "all": "true"}).json()["results"]
    assert found[0]["id"] == cover and found[0]["stack"]["via"].endswith("chelsea.jpg")
    assert any(
        r["id"] == member
        for r in client.get("/api/search", params={"q": "cat", "expand_stacks": "true", "all": "true"}).json()[
            "results"
        ]
    )


def test_stack_kinds_are_validated_and_clashes_reported(tmp_path: Path) -> None:
    assert "column name" in (validate_stack(StackKind("ok", "bad column", "x")) or "")
    assert "lower-case" in (validate_stack(StackKind("Bad", "c", "x")) or "")
    assert validate_stack(object()) is not None
    folder = tmp_path / "p"
    folder.mkdir()
    for name in ("one", "two"):
        (folder / f"{name}.py").write_text(
            "from chronicon.api import StackKind, hookimpl\n\n"
            "@hookimpl\ndef chronicon_register_stacks():\n"
            f"    return [StackKind('same', 'same_cover', '{name}')]\n"
        )
    host = PluginHost()
    host.load(paths=[str(folder)], entry_points=False)
    assert [k.label for k in host.stack_kinds() if k.name == "same"] == ["one"]
    assert any("already taken" in p.error for p in host.problems)
