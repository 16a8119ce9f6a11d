"""Plugin search filters and sort keys, the GPS box filter, browsing without a query, and the routes hook."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chronicon.library import Library
from chronicon.search.extensions import ExtensionError, SearchFilter, SortKey, sort_rows, validate
from chronicon.search.filters import FilterError, Filters, parse_gps_box
from mediafactory import make_jpeg
from ml_switches import NO_ML

FILTER_PLUGIN = """
from __future__ import annotations
from chronicon.hookspecs import hookimpl
from chronicon.search.extensions import SearchFilter, SortKey

PLUGIN_NAME = "sizefilters"

def _named(catalog, value):
    table = catalog.to_arrow(["id", "path"])
    return {i for i, p in zip(table.column("id").to_pylist(), table.column("path").to_pylist()) if value in p}

@hookimpl
def chronicon_register_search_filters():
    return [
        SearchFilter("min_width", "at least this wide", value_type="int", where=lambda v: f"width >= {int(v)}"),
        SearchFilter("name_has", "file name contains", asset_ids=_named),
        SearchFilter("kind", "clashes with a core filter", where=lambda v: "true"),
        SearchFilter("Bad-Name", "not a valid name", where=lambda v: "true"),
        SortKey("biggest", "width", "widest first"),
        SortKey("smallest", "width", "narrowest first", descending=False),
    ]

@hookimpl
def chronicon_register_routes(app, library):
    @app.get("/api/hello")
    def hello() -> dict[str, int]:
        return {"assets": library.catalog.count()}
"""


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    make_jpeg(root / "berlin_small.jpg", size=(40, 30), taken_at="2020:01:01 10:00:00", gps=(52.52, 13.40, 30.0))
    make_jpeg(root / "paris_wide.jpg", size=(120, 40), taken_at="2022:05:01 10:00:00", gps=(48.85, 2.35, 35.0))
    make_jpeg(root / "fiji_mid.jpg", size=(80, 40), taken_at="2021:03:01 10:00:00", gps=(-17.7, 178.1, 5.0))
    make_jpeg(root / "nowhere.jpg", size=(60, 40), taken_at="2019:03:01 10:00:00", gps=None)
    return root


@pytest.fixture
def library(tmp_path: Path, photos: Path) -> Library:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "sizefilters.py").write_text(textwrap.dedent(FILTER_PLUGIN))
    overrides = {**NO_ML, "plugins.paths": [str(folder)]}
    lib = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    lib.scan([str(photos)])
    return lib


def names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(h.path).name for h in hits]


def test_bad_and_clashing_plugin_filters_are_reported_not_registered(library: Library) -> None:
    assert set(library.search_filters) == {"min_width", "name_has"}
    assert set(library.sort_keys) == {"biggest", "smallest"}
    problems = [str(p) for p in library.plugins.problems]
    assert any("'kind' is already taken" in p for p in problems)
    assert any("Bad-Name" in p for p in problems)


def test_browse_is_newest_first_and_sorts_by_plugin_keys(library: Library) -> None:
    assert names(library.browse()) == ["paris_wide.jpg", "fiji_mid.jpg", "berlin_small.jpg", "nowhere.jpg"]
    assert names(library.browse(sort="biggest"))[0] == "paris_wide.jpg"
    assert names(library.browse(sort="smallest")) == ["berlin_small.jpg", "nowhere.jpg", "fiji_mid.jpg",
                                                      "paris_wide.jpg"]  # fmt: skip
    assert [h.rank for h in library.browse(limit=2, offset=1)] == [2, 3]
    with pytest.raises(FilterError, match="unknown sort 'prettiest'"):
        library.browse(sort="prettiest")


def test_plugin_filters_by_sql_and_by_ids_combine_with_core_filters(library: Library) -> None:
    assert names(library.browse(min_width=70)) == ["paris_wide.jpg", "fiji_mid.jpg"]
    assert names(library.browse(min_width="70", name_has="fiji")) == ["fiji_mid.jpg"]
    assert names(library.browse(name_has="small", after="2021")) == []
    with pytest.raises(FilterError, match="expected a finite number"):
        library.browse(min_width="wide")
    flt = SearchFilter("min_score_x", "h", value_type="float", where=lambda v: f"x >= {v}")
    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(ExtensionError):
            flt.convert(bad)
    with pytest.raises(FilterError, match=r"unknown filter .colour.*min_width"):
        library.browse(colour="red")


def test_gps_box_filter_and_antimeridian(library: Library) -> None:
    europe = "40,-10,60,20"
    assert sorted(names(library.browse(gps=europe))) == ["berlin_small.jpg", "paris_wide.jpg"]
    # West 170 > east -170: the box crosses the antimeridian and holds Fiji.
    assert names(library.browse(gps="-30,170,0,-170")) == ["fiji_mid.jpg"]
    assert parse_gps_box("1, 2, 3, 4") == (1.0, 2.0, 3.0, 4.0)
    for bad in ("1,2,3", "north,2,3,4", "50,0,40,10", "0,0,10,200", "nan,0,10,10"):
        with pytest.raises(FilterError):
            parse_gps_box(bad)


def test_filters_round_trip_to_json() -> None:
    flt = SearchFilter("min_width", "w", value_type="int", where=lambda v: f"width >= {v}")
    filters = Filters(kind="image", labels=["dog"], gps=(1, 2, 3, 4), extra=[(flt, 5)])
    assert filters.to_json() == {"kind": "image", "labels": ["dog"], "gps": "1,2,3,4", "min_width": 5}
    assert "(width >= 5)" in filters.where()


def test_extension_validation_and_sorting_helpers() -> None:
    assert validate(SearchFilter("ok", "h", where=lambda v: "true")) is None
    assert "needs `where` or `asset_ids`" in str(validate(SearchFilter("ok", "h")))
    assert "value_type" in str(validate(SearchFilter("ok", "h", value_type="date", where=lambda v: "")))
    assert "not a SearchFilter" in str(validate("person"))
    key = SortKey("score", "score", "best first")
    assert sort_rows([1, None, 3, 2], key, lambda r: r) == [3, 2, 1, None]


def test_plugin_routes_join_the_web_app(library: Library) -> None:
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    app = fastapi.FastAPI()
    library.plugins.call("chronicon_register_routes", app=app, library=library)
    assert TestClient(app).get("/api/hello").json() == {"assets": 4}


def test_update_columns_changes_only_the_given_columns(library: Library, photos: Path) -> None:
    row = library.info(photos / "nowhere.jpg")
    assert row is not None
    library.catalog.update_columns([{"id": row["id"], "sharpness": 123.5}, {"id": "no-such-id", "sharpness": 1.0}])
    after = library.info(photos / "nowhere.jpg")
    assert after is not None and after["sharpness"] == 123.5 and after["width"] == row["width"]
    assert library.catalog.count() == 4
    with pytest.raises(ValueError, match="same keys"):
        library.catalog.update_columns([{"id": row["id"], "sharpness": 1.0}, {"id": row["id"]}])
    with pytest.raises(ValueError, match="no column colourfulness"):
        library.catalog.update_columns([{"id": row["id"], "colourfulness": 1.0}])


def test_min_counts_parse_strictly() -> None:
    from chronicon.search.filters import parse_min_counts

    assert parse_min_counts(["person=3"]) == {"person": 3}
    for bad in ("person", "=3", "person=three", "person=\u00b2", "person=" + "9" * 5000):
        with pytest.raises(FilterError, match="LABEL=N"):
            parse_min_counts([bad])
