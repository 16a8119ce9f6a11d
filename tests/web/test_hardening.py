"""The security review's fixes (issue 7): media types from content, Host check, body limits, strict ranges and
counts, JSON 500s, strict ids, odd catalog JSON, the spec's auth scheme, the page's CSP, ASCII tokens."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronicon.library import Library
from websample import TEST_HOSTS, Sample

pytest.importorskip("fastapi")

CSP_FILES = "sandbox; default-src 'none'"
SAMPLE_JPEG = "chelsea.jpg"


@pytest.fixture(scope="module")
def disguised(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """A small library (no ML) in which real JPEGs are named like web pages, and a client over it."""
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    base = tmp_path_factory.mktemp("disguised")
    root = base / "photos"
    root.mkdir()
    for name in ("evil.html", "evil.svg", "evil.xhtml", "plain.jpg"):
        shutil.copy(sample_photos / SAMPLE_JPEG, root / name)
    overrides = {"tags.enabled": False, "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False}
    library = Library(base / "catalog", overrides=overrides, environ={}, entry_points=False)
    summary = library.scan([root])
    assert not summary.failures, summary.failures
    ids = {Path(r["path"]).name: str(r["id"]) for r in library.catalog.rows(columns=["id", "path"])}
    assert {"evil.html", "evil.svg", "plain.jpg"} <= set(ids), ids
    with TestClient(create_app(library, allowed_hosts=TEST_HOSTS)) as client:
        yield client, ids


# -- 1. the media type of /original comes from the bytes, with a sandboxing CSP ------------------------------
def test_disguised_jpeg_is_served_as_a_jpeg_in_a_sandbox(disguised: tuple[Any, dict[str, str]]) -> None:
    client, ids = disguised
    for name in ("evil.html", "evil.svg", "evil.xhtml", "plain.jpg"):
        if name not in ids:
            continue
        response = client.get(f"/api/assets/{ids[name]}/original")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg", name
        assert response.headers["content-security-policy"] == CSP_FILES
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content[:3] == b"\xff\xd8\xff"
        part = client.get(f"/api/assets/{ids[name]}/original", headers={"Range": "bytes=0-9"})
        assert part.status_code == 206 and part.headers["content-type"] == "image/jpeg"
        assert part.headers["content-security-policy"] == CSP_FILES
        thumb = client.get(f"/api/assets/{ids[name]}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert thumb.headers["content-security-policy"] == CSP_FILES


def test_media_type_map() -> None:
    from chronicon.web.media_types import media_type

    assert media_type("jpeg") == "image/jpeg" and media_type("matroska") == "video/x-matroska"
    assert media_type("mov") == "video/quicktime" and media_type("3gp") == "video/3gpp"
    assert media_type("html") == media_type(None) == media_type("") == "application/octet-stream"


# -- 2. Host header: loopback names and the allowed ones only (DNS rebinding) ----------------------------------
def test_host_header_is_checked(client: Any) -> None:
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "10.0.0.1"):
        refused = client.get("/api/stats", headers={"Host": host})
        assert refused.status_code == 400, host
        assert refused.json()["status"] == 400 and "--allow-host" in refused.json()["error"]
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400  # the page too
    for host in ("127.0.0.1", "127.0.0.1:8765", "localhost:1", "LOCALHOST", "[::1]:8765", "[::1]", "testserver"):
        assert client.get("/api/stats", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_argument_and_wildcard(web_sample: Sample) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    with TestClient(create_app(web_sample.library)) as plain:  # no extra names: TestClient's host is refused
        assert plain.get("/api/stats").status_code == 400
    with TestClient(create_app(web_sample.library, allowed_hosts=["photos.example.org", "testserver"])) as named:
        assert named.get("/api/stats", headers={"Host": "Photos.Example.org:443"}).status_code == 200
        assert named.get("/api/stats", headers={"Host": "other.example.org"}).status_code == 400
    with TestClient(create_app(web_sample.library, allowed_hosts=["*"])) as anyhost:
        assert anyhost.get("/api/stats", headers={"Host": "anything.example"}).status_code == 200


def test_host_names_and_cli_hosts() -> None:
    import socket

    from chronicon.cli.serve import allowed_hosts
    from chronicon.web.guard import host_name

    assert (
        host_name("[::1]:8765") == "::1" and host_name("::1") == "::1" and host_name("Example.org.:80") == "example.org"
    )
    assert allowed_hosts("192.168.1.4", ("nas.local",)) == ["192.168.1.4", "nas.local"]
    assert socket.gethostname() in allowed_hosts("0.0.0.0", ()) and "0.0.0.0" not in allowed_hosts("0.0.0.0", ())


# -- 3. uploads: refused before the body is read, counted when chunked, photos only, one file ------------------
def asgi_call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Call the ASGI app with a receive() that fails: proves the answer came without reading the body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the request body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8765)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"]), b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_upload_over_the_limit_is_refused_before_reading(client: Any) -> None:
    import json

    from chronicon.web.routes_search import MAX_BODY

    headers = [(b"host", b"127.0.0.1:8765"), (b"content-type", b"multipart/form-data; boundary=xyz"),
               (b"content-length", str(MAX_BODY + 1).encode())]  # fmt: skip
    status, body = asgi_call(client.app, "POST", "/api/search/image", headers)
    assert status == 413
    assert json.loads(body) == {"error": f"the request body is larger than {MAX_BODY} bytes", "status": 413}
    bad_length = [(b"host", b"127.0.0.1"), (b"content-length", ("9" * 5000).encode())]
    status, body = asgi_call(client.app, "POST", "/api/search/image", bad_length)
    assert (status, json.loads(body)) == (400, {"error": "bad Content-Length", "status": 400})  # not parsed as a number


def test_chunked_upload_is_counted(web_sample: Sample, sample_photos: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    data = (sample_photos / SAMPLE_JPEG).read_bytes()
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    with TestClient(create_app(web_sample.library, allowed_hosts=TEST_HOSTS, max_body=10_000)) as small:
        response = small.post("/api/search/image", content=chunks(),
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
        assert response.status_code == 413 and response.json()["status"] == 413


def test_upload_must_be_one_photo(client: Any, web_sample: Sample, sample_photos: Path) -> None:
    video = web_sample.video.read_bytes()
    refused = client.post("/api/search/image", files={"file": ("clip.mp4", video, "video/mp4")})
    assert refused.status_code == 400 and "photo" in refused.json()["error"]
    photo = (sample_photos / SAMPLE_JPEG).read_bytes()
    two = client.post("/api/search/image", files=[("file", ("a.jpg", photo, "image/jpeg")),
                                                   ("file", ("b.jpg", photo, "image/jpeg"))])  # fmt: skip
    assert two.status_code == 400 and two.json()["status"] == 400
    assert client.post("/api/search/image", data={"q": "cat"}).status_code == 400
    bad_limit = client.post("/api/search/image", files={"file": ("a.jpg", photo, "image/jpeg")}, data={"limit": "²"})
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]
    named_oddly = client.post("/api/search/image", files={"file": ("query.html", photo, "text/html")},
                              data={"limit": "2"})  # fmt: skip
    assert named_oddly.status_code == 200 and len(named_oddly.json()["results"]) == 2


# -- 4. ranges: ASCII digits only, bounded, empty files ---------------------------------------------------------
def test_parse_range_is_strict(tmp_path: Path) -> None:
    from chronicon.web.ranges import RangeError, file_response, parse_range

    for header in ("bytes=²-5", "bytes=1-²", "bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 20, "bytes= 1 - 2 x"):
        with pytest.raises(RangeError):
            parse_range(header, 100)
    assert parse_range("bytes=0-" + "9" * 19, 100) == (0, 99)
    with pytest.raises(RangeError):
        parse_range("bytes=-5", 0)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    refused = file_response(str(empty), "bytes=-5", "image/jpeg", {})
    assert refused.status_code == 416 and refused.headers["content-range"] == "bytes */0"
    assert file_response(str(empty), None, "image/jpeg", {}).status_code == 200


def test_bad_ranges_over_http_are_416(disguised: tuple[Any, dict[str, str]]) -> None:
    client, ids = disguised
    url = f"/api/assets/{ids['plain.jpg']}/original"
    for header in ("bytes=²-5", "bytes=0-" + "9" * 5000, "bytes=" + "1" * 30 + "-"):
        response = client.get(url, headers={"Range": header.encode("latin-1")})  # '²' arrives as latin-1
        assert response.status_code == 416 and response.json()["status"] == 416, header


# -- 5. min_count through the core parser -------------------------------------------------------------------
def test_min_count_is_parsed_strictly(client: Any) -> None:
    for value in ("a=²", "a=", "=3", "a=99999999999999999999"):
        response = client.get("/api/search", params={"q": "cat", "min_count": value})
        assert response.status_code == 400 and response.json()["status"] == 400, value
    refused = client.get("/api/browse", params={"min_count": "a=\u00b2"})
    assert refused.status_code == 400 and "LABEL=N" in refused.json()["error"]


# -- 6. anything unexpected: a JSON 500, logged ---------------------------------------------------------------
def test_unexpected_errors_are_json_500(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    from chronicon.web.deps import library_of

    def broken() -> Library:
        raise RuntimeError("boom in a dependency")

    client.app.dependency_overrides[library_of] = broken
    try:
        with caplog.at_level(logging.ERROR):
            response = client.get("/api/stats")
    finally:
        client.app.dependency_overrides.pop(library_of)
    assert response.status_code == 500 and response.json() == {"error": "internal error", "status": 500}
    assert "boom in a dependency" not in response.text
    assert any("boom in a dependency" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
    assert client.get("/api/stats").status_code == 200


# -- 7. ids: the whole string must match -------------------------------------------------------------------------
def test_id_with_a_trailing_newline_is_refused(client: Any, web_sample: Sample) -> None:
    from fastapi import HTTPException

    from chronicon.web.security import check_id

    asset = str(next(iter(web_sample.library.catalog.rows(columns=["id"])))["id"])
    with pytest.raises(HTTPException):
        check_id(asset + "\n")
    for suffix in ("%0A", "%0A/original", "%0A/thumbnail"):
        response = client.get(f"/api/assets/{asset}{suffix}")
        assert response.status_code == 400, suffix


# -- 8. odd JSON in the catalog: 404 / skipped, never a 500 ------------------------------------------------------
def test_odd_segments_and_transcript(disguised: tuple[Any, dict[str, str]]) -> None:
    from chronicon.web.routes_assets import timed_segments

    client, ids = disguised
    library: Library = client.app.state.library
    asset = ids["plain.jpg"]
    segments = '[1, "x", null, [2], {"index": 1, "thumbnail": 5}]'
    library.catalog.update_columns([{"id": asset, "segments": segments}])
    for segment in (1, 2):
        response = client.get(f"/api/assets/{asset}/thumbnail", params={"segment": segment})
        assert response.status_code == 404 and response.json()["status"] == 404
    assert client.get(f"/api/assets/{asset}").status_code == 200
    assert client.get(f"/api/assets/{asset}/transcript").json()["segments"] == []  # no transcript column here
    transcript = ('[{"start": "a", "end": 1, "text": "bad start"}, {"start": 0, "end": "NaN", "text": "nan"}, 5, '
                  '{"start": 0, "end": 2}, {"start": "1.5", "end": 3, "text": "kept"}, {"start": 4, "end": null, '
                  '"text": "no end"}, {"start": 100, "end": 101, "text": "later"}]')  # fmt: skip
    assert [s["text"] for s in timed_segments(transcript)] == ["kept", "later"]
    near = timed_segments(transcript, around=2.0, window=30.0)
    assert [s["text"] for s in near] == ["kept"] and near[0]["start"] == 1.5
    assert timed_segments("{not json") == timed_segments('{"a": 1}') == timed_segments(None) == []


# -- 9. the spec declares the token, so Swagger's "Authorize" works ---------------------------------------------
def test_spec_declares_bearer_auth(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["token_query"]["in"] == "query" and schemes["token_query"]["name"] == "token"
    assert {"bearer": []} in spec["security"]
    upload = spec["paths"]["/api/search/image"]["post"]
    assert "file" in upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "413" in upload["responses"]


# -- 10. the page: a CSP and no framing ----------------------------------------------------------------------------
def test_page_headers(client: Any) -> None:
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert page.headers["x-frame-options"] == "DENY"


# -- 11. tokens are ASCII; a non-ASCII one is refused at startup, odd bytes in a header are a 401 --------------
def test_token_must_be_ascii(web_sample: Sample, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.cli import main
    from chronicon.errors import ConfigError
    from chronicon.web import create_app

    for bad in ("pässwort", "two words", "tab\there"):
        with pytest.raises(ConfigError, match="ASCII"):
            create_app(web_sample.library, token=bad)
    with TestClient(create_app(web_sample.library, token="s3cret", allowed_hosts=TEST_HOSTS)) as guarded:
        odd = guarded.get("/api/stats", headers={"Authorization": b"Bearer s3cr\xe9t"})
        assert odd.status_code == 401 and odd.json()["status"] == 401
        assert guarded.get("/api/stats", params={"token": "s3cr\u00e9t"}).status_code == 401
        assert guarded.get("/api/stats", params={"token": "s3cret"}).status_code == 200
    config = tmp_path / "config.yaml"
    config.write_text(f"catalog: {tmp_path / 'catalog'}\ntags:\n  enabled: false\nplugins:\n  paths: []\n")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(config), "serve", "--port", "0", "--token", "pässwort"])
    assert done.value.code == 2
