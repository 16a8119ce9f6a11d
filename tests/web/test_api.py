"""The REST API over the scanned sample: search, filters, asset details, thumbnails, originals with byte
ranges, transcripts, image upload, stats, plugin routes, JSON errors; and nothing in the library changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from websample import SPEECH_START, Sample, snapshot


@pytest.fixture(scope="module", autouse=True)
def library_untouched(web_sample: Sample) -> Iterator[None]:
    """No request of this module may modify or delete a file of the library."""
    before = snapshot(web_sample.root)
    yield
    assert snapshot(web_sample.root) == before


def names(results: list[dict[str, Any]]) -> list[str]:
    return [Path(r["path"]).name for r in results]


def first_id(client: Any, query: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params={"q": query, **params})
    assert response.status_code == 200, response.text
    return dict(response.json()["results"][0])


def test_search_finds_the_cat_first(client: Any) -> None:
    response = client.get("/api/search", params={"q": "cat", "kind": "image"})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "cat" and body["seconds"] >= 0 and body["space"].endswith(":conse")
    hit = body["results"][0]
    assert Path(hit["path"]).name == "chelsea.jpg"
    assert hit["thumbnail_url"] == f"/api/assets/{hit['id']}/thumbnail"
    assert hit["media_url"] == f"/api/assets/{hit['id']}/original"
    assert hit["score"] is not None and hit["why"]


@pytest.mark.parametrize(("query", "photo"), [("coffee cup", "coffee.jpg"), ("rocket", "rocket.jpg")])
def test_other_queries(client: Any, query: str, photo: str) -> None:
    assert Path(first_id(client, query, kind="image")["path"]).name == photo


def test_video_hit_points_at_the_later_shot(client: Any, web_sample: Sample) -> None:
    hit = first_id(client, "rocket", kind="video")
    assert Path(hit["path"]) == web_sample.video
    assert hit["segment"] == 3 and hit["t_start"] == pytest.approx(web_sample.cuts[1], abs=0.4)
    assert hit["t_start"] <= hit["t"] < hit["t_end"]  # the moment: the shot's best-matching frame
    assert hit["thumbnail_url"].endswith("?segment=3")
    shot = client.get(hit["thumbnail_url"])
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/webp" and shot.content[8:12] == b"WEBP"


def test_filters(client: Any, web_sample: Sample) -> None:
    videos = client.get("/api/search", params={"q": "cat", "kind": "video"}).json()["results"]
    assert names(videos) == ["slideshow.mp4"]
    under = client.get("/api/search", params={"q": "cat", "under": str(web_sample.root / "photos")}).json()
    assert "slideshow.mp4" not in names(under["results"]) and names(under["results"])[0] == "chelsea.jpg"
    label = first_id(client, "cat", kind="image")["labels"][0]
    labelled = client.get("/api/search", params={"q": "cat", "label": label}).json()["results"]
    assert labelled and all(label in r["labels"] for r in labelled)
    nothing = client.get("/api/search", params={"q": "cat", "after": "2100"}).json()["results"]
    assert nothing == []
    limited = client.get("/api/search", params={"q": "cat", "limit": 2}).json()["results"]
    assert len(limited) == 2


def test_plugin_filter_is_accepted_by_name(client: Any) -> None:
    meta = client.get("/api/meta").json()
    assert meta["version"] and any(s.endswith(":conse") for s in meta["spaces"])
    # The space selector offers what passes contributed and the catalog holds, by kind (not guessed from names).
    assert "conse" in [s["kind"] for s in meta["search_spaces"]]
    assert all(s["space"] in meta["spaces"] for s in meta["search_spaces"])
    assert meta["filters"], "the web sample loads the bundled plugins, which add filters"
    for extension in meta["filters"]:
        name = extension["name"]
        if extension["type"] in ("float", "int"):
            assert client.get("/api/search", params={"q": "cat", name: "0"}).status_code == 200
            refused = client.get("/api/search", params={"q": "cat", name: "lots"})
            assert refused.status_code == 400 and name in refused.json()["error"], refused.text
        else:
            response = client.get("/api/search", params={"q": "cat", name: "someone"})
            # A value the plugin does not know is either no match or a 400 that names the parameter.
            if response.status_code == 200:
                assert isinstance(response.json()["results"], list)
            else:
                assert response.status_code == 400 and name in response.json()["error"], response.text


def test_browse(client: Any) -> None:
    body = client.get("/api/browse", params={"limit": 3}).json()
    assert body["limit"] == 3 and len(body["results"]) == 3
    videos = client.get("/api/browse", params={"kind": "video"}).json()["results"]
    assert names(videos) == ["slideshow.mp4"]


def test_asset_detail(client: Any, web_sample: Sample) -> None:
    video = first_id(client, "rocket", kind="video")
    detail = client.get(f"/api/assets/{video['id']}").json()
    assert detail["kind"] == "video" and detail["duration"] == pytest.approx(9.0, abs=0.2)
    shots = [s for s in detail["segments"] if s["index"] > 0]  # decoded from the catalog's JSON text
    assert [s["index"] for s in shots] == [1, 2, 3]
    assert [s["t_start"] for s in shots[1:]] == pytest.approx(web_sample.cuts, abs=0.4)
    assert "path_raw" not in detail and "pass_signature" not in detail and "phases" not in detail
    cat = first_id(client, "cat", kind="image")
    photo = client.get(f"/api/assets/{cat['id']}").json()
    assert photo["width"] == 451 and photo["height"] == 300 and photo["labels"]


def test_thumbnail(client: Any) -> None:
    hit = first_id(client, "cat", kind="image")
    response = client.get(hit["thumbnail_url"])
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert client.get(f"/api/assets/{hit['id']}/thumbnail", params={"segment": 7}).status_code == 404


def test_original_whole_and_ranges(client: Any) -> None:
    hit = first_id(client, "rocket", kind="video")
    data = Path(hit["path"]).read_bytes()
    url = hit["media_url"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == data[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    rest = client.get(url, headers={"Range": f"bytes={len(data) - 7}-"})
    assert rest.status_code == 206 and rest.content == data[-7:]
    clipped = client.get(url, headers={"Range": f"bytes=0-{len(data) + 1000}"})
    assert clipped.status_code == 206 and clipped.content == data
    for bad in (f"bytes={len(data)}-", "bytes=9-3", "bytes=abc", "bytes=0-1,5-6", "bytes=-0"):
        refused = client.get(url, headers={"Range": bad})
        assert refused.status_code == 416, bad
        assert refused.headers["content-range"] == f"bytes */{len(data)}"
        assert refused.json()["status"] == 416
    photo = first_id(client, "cat", kind="image")
    assert client.get(photo["media_url"]).headers["content-type"] == "image/jpeg"


def test_transcript(client: Any) -> None:
    hit = first_id(client, "rocket", kind="video")
    body = client.get(f"/api/assets/{hit['id']}/transcript", params={"around": hit["t_start"]}).json()
    assert body["id"] == hit["id"] and body["around"] == hit["t_start"] and body["language"] == "en"
    said = " ".join(s["text"] for s in body["segments"]).lower()
    assert "birthday" in said and all(s["start"] >= SPEECH_START - 0.5 for s in body["segments"]), body
    spoken = client.get("/api/search", params={"q": "where they say happy birthday", "kind": "video"}).json()
    top = spoken["results"][0]
    assert top["id"] == hit["id"] and any(w.startswith("said") for w in top["why"]), top
    assert SPEECH_START - 0.5 <= top["t_start"] <= 9.0


def test_image_upload_finds_similar(client: Any, sample_photos: Path) -> None:
    with open(sample_photos / "chelsea.jpg", "rb") as fh:
        response = client.post("/api/search/image", files={"file": ("query.jpg", fh, "image/jpeg")},
                               data={"limit": "3"})  # fmt: skip
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 3 and names(results)[0] == "chelsea.jpg"
    junk = client.post("/api/search/image", files={"file": ("x.jpg", b"not a picture", "image/jpeg")})
    assert junk.status_code == 400 and junk.json()["status"] == 400


def test_stats_and_scan_status(client: Any) -> None:
    stats = client.get("/api/stats").json()
    assert stats["assets"] == 6 and stats["by_kind"] == {"image": 5, "video": 1}
    scan = client.get("/api/scan").json()
    assert scan["scanning"] is False and scan["assets"] == 6 and scan["last_update"]


def test_errors_are_json_with_status_codes(client: Any) -> None:
    cases = [
        ("/api/search", {"q": "cat", "after": "yesterday"}, 400),
        ("/api/search", {"q": "cat", "sort": "nope"}, 400),
        ("/api/search", {"q": "cat", "space": "nope"}, 400),
        ("/api/search", {"q": "cat", "gps": "1,2"}, 400),
        ("/api/search", {"q": "cat", "kind": "sound"}, 400),
        ("/api/search", {"q": "cat", "limit": "many"}, 400),
        ("/api/search", {}, 400),
        ("/api/assets/0123456789abcdef0123456789abcdef", {}, 404),
        ("/api/assets/not$an$id", {}, 400),
        ("/api/nothing-here", {}, 404),
    ]
    for path, params, status in cases:
        response = client.get(path, params=params)
        assert response.status_code == status, (path, params, response.text)
        body = response.json()
        assert body["status"] == status and isinstance(body["error"], str) and body["error"], body


def test_plugin_routes_are_mounted(client: Any) -> None:
    import importlib.util

    meta = client.get("/api/meta").json()
    albums = client.get("/api/albums")
    assert meta["albums"], "the web sample enables the albums plugin: its routes must be there"
    assert albums.status_code == 200 and isinstance(albums.json()["albums"], list)
    assert importlib.util.find_spec("fastapi") is not None


def test_page_and_static_files(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="search-box"' in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
