"""Issue 12, part 5: decompression bombs in uploads (server memory measured), foreign origins refused, bounded
names and queries, HEAD on media, errors that name API parameters, and storage faults as JSON 503/507."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from webserver import memory_kb, reset_peak, served

from chronicon.library import Library
from mediafactory import make_jpeg
from ml_switches import NO_ML
from websample import PLUGINS_DIR, TEST_HOSTS, Sample

pytest.importorskip("fastapi")

MB = 1024  # kB
ORIGIN = "http://testserver"  # the origin of the pages TestClient's requests come from (its Host)
LONG_NAME = "N" * 100_000
# A library without ML and with the albums plugin only: albums here are filters, evaluated without models.
SMALL_SETTINGS: dict[str, object] = {**NO_ML, "plugins.paths": [str(PLUGINS_DIR)],
                                     "plugins.disabled": ["faces", "extract", "aesthetic", "duplicates"]}  # fmt: skip


def zero_png(width: int, height: int, *, bits: int = 1, colour: int = 0) -> bytes:
    """A valid PNG of width×height all-zero pixels (`bits` per sample, PNG colour type `colour`), compressed row
    by row so that even a 15000×15000 one is built in a fraction of a second: a few kB that decode to gigabytes."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" * (1 + (width * channels * bits + 7) // 8)  # filter byte "none" and the samples
    packer = zlib.compressobj(9)
    chunks = [packer.compress(row) for _ in range(height)]
    data = b"".join(chunks) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# -- 1. decompression bombs: the real server's memory ----------------------------------------------------------
def test_upload_bombs_do_not_blow_up_server_memory(web_sample: Sample, sample_photos: Path) -> None:
    import httpx

    huge = zero_png(15000, 15000)  # 225 MP of 1-bit zeros (~27 kB): refused from its header
    large = zero_png(7000, 7000, bits=8, colour=2)  # 49 MP of RGB zeros (~150 kB): decoded, at reduced size
    assert len(huge) < 64 * 1024 and len(large) < 512 * 1024
    photo = (sample_photos / "chelsea.jpg").read_bytes()
    with (
        served(web_sample.catalog, web_sample.settings) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):

        def upload(data: bytes) -> httpx.Response:
            return http.post("/api/search/image", files={"file": ("q.png", data, "image/png")}, data={"limit": "3"})

        for _ in range(2):  # the models load on the first search: memory the server keeps anyway
            warm = http.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")})
            assert warm.status_code == 200, warm.text
        growth: dict[str, int] = {}
        answers: dict[str, list[httpx.Response]] = {}
        before = memory_kb(server.pid)
        for name, bomb in (("225 MP", huge), ("49 MP", large)):
            start = memory_kb(server.pid)
            peak_known = reset_peak(server.pid)  # VmHWM from here on
            with ThreadPoolExecutor(3) as pool:  # three at once
                answers[name] = list(pool.map(upload, [bomb] * 3))
            now = memory_kb(server.pid)
            growth[name] = (now["VmHWM"] if peak_known else max(now["VmHWM"], now["VmRSS"])) - start["VmRSS"]
        after = memory_kb(server.pid)
        print(f"server VmRSS before {before['VmRSS']} kB, after {after['VmRSS']} kB; peak growth (kB) {growth}; "
              f"answers {({k: [a.status_code for a in v] for k, v in answers.items()})}")  # fmt: skip
        for answer in answers["225 MP"]:  # refused from the header, before any pixel is decoded
            assert answer.status_code == 413, answer.text
            assert "15000×15000" in answer.json()["error"] and "50 MP" in answer.json()["error"]
        for answer in answers["49 MP"]:  # decoded one at a time within the budget (or told to come back)
            assert answer.status_code in (200, 503), answer.text
        assert any(a.status_code == 200 for a in answers["49 MP"])
        assert growth["225 MP"] < 300 * MB and growth["49 MP"] < 300 * MB, growth
        assert after["VmRSS"] - before["VmRSS"] < 100 * MB, (before, after)  # the decoded pixels were given back
        assert http.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")}).status_code == 200


def _png(data: bytes, name: str = "q.png") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "image/png")}


def test_upload_needing_too_much_memory_is_refused(client: Any) -> None:
    bomb = zero_png(6000, 6000, bits=8, colour=6)  # 36 MP RGBA: under the pixel limit, 275 MiB to reduce
    refused = client.post("/api/search/image", files=_png(bomb))
    assert refused.status_code == 413 and "MiB to decode" in refused.json()["error"], refused.text


def test_busy_decoder_answers_503(client: Any, sample_photos: Path) -> None:
    from chronicon.web.uploads import DecodeGate

    photo = (sample_photos / "chelsea.jpg").read_bytes()
    saved = client.app.state.decode_gate
    gate = client.app.state.decode_gate = DecodeGate(slots=1, wait=0.3)
    try:
        with gate.admit(0):  # another upload is being decoded
            busy = client.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert "decoding other uploaded photos" in busy.json()["error"] and busy.json()["status"] == 503
        assert client.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")}).status_code == 200
        assert gate.running == 0 and gate.held == 0
    finally:
        client.app.state.decode_gate = saved


def test_decode_gate_shares_its_budget() -> None:
    from chronicon.web.uploads import BusyError, DecodeGate

    gate = DecodeGate(slots=3, budget=100, wait=0.2)
    with gate.admit(60), gate.admit(10):
        with pytest.raises(BusyError), gate.admit(50):  # 60 + 10 + 50 > 100: no room within the wait
            pass
        released = threading.Event()

        def later() -> None:
            with gate.admit(90):  # waits until the others are done
                released.set()

        waiter = threading.Thread(target=later)
        waiter.start()
        assert not released.wait(0.05)
    waiter.join(2)
    assert released.is_set() and gate.running == 0 and gate.held == 0
    with gate.admit(10_000):  # more than the budget: runs alone
        assert gate.held == 100


@pytest.mark.parametrize("mode", ["1", "L", "P", "PT", "LA", "RGB", "RGBA", "I;16", "CMYK", "JPEG6"])
def test_uploads_of_every_mode_are_reduced_to_upright_rgb(mode: str) -> None:
    from PIL import Image

    from chronicon.web.uploads import DecodeGate, reduced_photo

    buffer = io.BytesIO()
    size = (1600, 900)
    if mode == "JPEG6":  # stored landscape, shown portrait (EXIF orientation 6)
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG", exif=exif)
    elif mode == "CMYK":
        Image.new("CMYK", size, (0, 100, 200, 0)).save(buffer, "TIFF")
    elif mode == "PT":  # a palette image with a transparent colour
        Image.new("P", size, 0).save(buffer, "PNG", transparency=0)
    else:
        Image.new(mode, size).save(buffer, "PNG")
    buffer.seek(0)
    small = reduced_photo(buffer, DecodeGate())
    assert small.mode == "RGB"
    assert small.size == ((768, 1365) if mode == "JPEG6" else (1365, 768)), small.size
    if mode == "PT":
        assert small.getpixel((0, 0)) == (255, 255, 255)  # transparency over white, as the scan does


# -- 2. requests from other sites: refused when they change data or upload (CSRF) -----------------------------
@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("limits")
    media = base / "media"
    media.mkdir()
    make_jpeg(media / "berlin.jpg", taken_at="2021:07:04 15:30:00")
    make_jpeg(media / "paris.jpg", taken_at="2022:03:01 10:00:00", color=(20, 200, 30))
    library = Library(base / "catalog", overrides=SMALL_SETTINGS, environ={}, entry_points=False)
    assert library.scan([media]).counts["new"] == 2
    return base / "catalog"


@pytest.fixture(scope="module")
def small(small_catalog: Path) -> Iterator[Any]:
    """A client over the small library (the albums plugin on, no ML)."""
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    library = Library(small_catalog, overrides=SMALL_SETTINGS, environ={}, entry_points=False)
    with TestClient(create_app(library, allowed_hosts=TEST_HOSTS)) as test_client:
        assert test_client.get("/api/albums").status_code == 200, "the albums plugin must be loaded here"
        yield test_client


def test_foreign_origin_is_refused_and_same_origin_accepted(small: Any) -> None:
    album = {"name": "Recent", "after": "2022"}
    for origin in (
        "http://evil.example",
        "null",
        "http://testserver:8080",
        "https://testserver",
        "http://testserver.evil.example",
    ):
        refused = small.post("/api/albums", json=album, headers={"Origin": origin})
        assert refused.status_code == 403, origin
        assert (
            refused.json()["status"] == 403
            and "Origin" in refused.json()["error"]
            and origin in refused.json()["error"]
        )
    assert small.get("/api/albums/Recent").status_code == 404  # nothing was stored
    made = small.post("/api/albums", json=album, headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"})
    assert made.status_code == 201, made.text
    assert [Path(i["path"]).name for i in made.json()["items"]] == ["paris.jpg"]
    refused = small.delete("/api/albums/Recent", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    cross = small.delete("/api/albums/Recent", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"]
    assert small.delete("/api/albums/Recent").json() == {"deleted": "Recent"}  # no Origin: curl, scripts
    assert small.get("/api/albums", headers={"Origin": "http://evil.example"}).status_code == 200  # reading


def test_foreign_origin_is_refused_with_the_token_too(small_catalog: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    library = Library(small_catalog, overrides=SMALL_SETTINGS, environ={}, entry_points=False)
    with TestClient(create_app(library, token="s3cret", allowed_hosts=TEST_HOSTS)) as guarded:
        auth = {"Authorization": "Bearer s3cret"}
        refused = guarded.post("/api/albums", json={"name": "T", "kind": "image"},
                               headers={**auth, "Origin": "http://evil.example"})  # fmt: skip
        assert refused.status_code == 403 and "Origin" in refused.json()["error"]
        made = guarded.post("/api/albums", json={"name": "T", "kind": "image"}, headers={**auth, "Origin": ORIGIN})
        assert made.status_code == 201, made.text
        assert guarded.delete("/api/albums/T", headers=auth).status_code == 200


def test_cross_site_upload_is_refused(client: Any, sample_photos: Path) -> None:
    from test_hardening import asgi_call

    photo = (sample_photos / "chelsea.jpg").read_bytes()
    cross = client.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")},
                        headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"] and cross.json()["status"] == 403
    foreign = client.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")},
                          headers={"Origin": "http://evil.example"})  # fmt: skip
    assert foreign.status_code == 403
    headers = [(b"host", b"127.0.0.1:8765"), (b"origin", b"http://evil.example"),
               (b"content-type", b"multipart/form-data; boundary=xyz"), (b"content-length", b"1000")]  # fmt: skip
    assert asgi_call(client.app, "POST", "/api/search/image", headers)[0] == 403  # before the body is read
    same = client.post("/api/search/image", files={"file": ("q.jpg", photo, "image/jpeg")}, data={"limit": "2"},
                       headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert same.status_code == 200 and len(same.json()["results"]) == 2


def test_same_origin_rule() -> None:
    from chronicon.web.guard import same_origin

    assert same_origin("http://127.0.0.1:8765", "http", "127.0.0.1:8765")
    assert same_origin("http://[::1]:8765", "http", "[::1]:8765")
    assert same_origin("https://photos.example.org", "https", "photos.example.org")
    assert same_origin("https://photos.example.org:443", "https", "Photos.Example.org")
    assert not same_origin("http://127.0.0.1:8766", "http", "127.0.0.1:8765")
    assert not same_origin("http://localhost:8765", "http", "127.0.0.1:8765")
    assert not same_origin("http://127.0.0.1:8765/x", "http", "127.0.0.1:8765")
    assert not same_origin("http://127.0.0.1:99999", "http", "127.0.0.1:8765")
    assert not same_origin("null", "http", "127.0.0.1:8765")


# -- 3. bounded names, queries and bodies ------------------------------------------------------------------------
def test_long_album_name_and_query_are_refused(small: Any) -> None:
    long_name = small.post("/api/albums", json={"name": LONG_NAME, "kind": "image"})
    assert long_name.status_code == 400, long_name.text
    assert long_name.json()["error"].startswith("name: at most 200 characters") and len(long_name.text) < 500
    long_query = small.post("/api/albums", json={"name": "Q", "query": "q" * 100_000})
    assert long_query.status_code == 400 and long_query.json()["error"].startswith("query: at most 1000")
    many = small.post("/api/albums", json={"name": "L", "labels": [f"l{n}" for n in range(101)]})
    assert many.status_code == 400 and "labels: at most 100" in many.json()["error"]
    assert small.get("/api/albums/" + "N" * 300).status_code == 400
    names = [a["name"] for a in small.get("/api/albums").json()["albums"]]
    assert not any(len(n) > 200 for n in names) and "Q" not in names and "L" not in names
    assert small.post("/api/albums", json={"name": "N" * 200, "kind": "image"}).status_code == 201  # the limit
    assert small.delete("/api/albums/" + "N" * 200).status_code == 200


def test_long_album_name_is_refused_by_the_service_and_the_store(small_catalog: Path) -> None:
    from chronicon_albums import service
    from chronicon_albums.rules import AlbumRule, RuleError
    from chronicon_albums.store import Album

    library = Library(small_catalog, overrides=SMALL_SETTINGS, environ={}, entry_points=False)
    store = service.store_of(library)
    with pytest.raises(RuleError, match="at most 200 characters"):
        service.create(library, store, LONG_NAME, AlbumRule.from_mapping({"kind": "image"}))
    with pytest.raises(RuleError, match="at most 200 characters"):
        store.put([Album(name=LONG_NAME, rule="{}")])
    assert store.get(LONG_NAME) is None


def test_query_parameters_are_bounded(client: Any) -> None:
    for params, name in (({"q": "cat", "camera": "x" * 1001}, "camera"), ({"q": "cat", "after": "2" * 41}, "after"),
                         ({"q": "cat", "label": [f"l{n}" for n in range(101)]}, "label"),
                         ({"q": "cat", "sort": "s" * 101}, "sort"), ({"q": "q" * 1001}, "q")):  # fmt: skip
        refused = client.get("/api/search", params=params)
        assert refused.status_code == 400 and refused.json()["error"].startswith(name), (name, refused.text)


def test_small_bodies_are_bounded(small: Any) -> None:
    refused = small.post("/api/albums", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert refused.status_code == 413 and refused.json()["status"] == 413


# -- 4. HEAD on the media routes --------------------------------------------------------------------------------
def test_head_on_original_and_thumbnail(client: Any, web_sample: Sample) -> None:
    asset = client.get("/api/browse", params={"kind": "image", "limit": 1}).json()["results"][0]
    for url in (asset["media_url"], asset["thumbnail_url"]):
        whole = client.get(url)
        head = client.head(url)
        assert head.status_code == 200 and whole.status_code == 200, url
        assert head.content == b"" and int(head.headers["content-length"]) == len(whole.content) > 0
        for name in ("content-type", "content-security-policy", "x-content-type-options"):
            assert head.headers[name] == whole.headers[name], name
    assert client.head(asset["media_url"]).headers["accept-ranges"] == "bytes"
    assert int(client.head(asset["media_url"]).headers["content-length"]) == os.path.getsize(asset["path"])
    part = client.head(asset["media_url"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.headers["content-length"] == "10" and part.content == b""
    assert part.headers["content-range"] == f"bytes 0-9/{os.path.getsize(asset['path'])}"
    assert client.head("/api/assets/nope/original").status_code == 404
    assert "head" not in client.get("/openapi.json").json()["paths"]["/api/assets/{asset_id}/original"]


# -- 5. errors name the API's parameters, not the command line's flags ------------------------------------------
def test_errors_name_api_parameters(client: Any, small: Any) -> None:
    from chronicon.search.filters import FilterError, parse_min_counts

    with pytest.raises(FilterError, match="--min-count"):  # the CLI keeps its wording
        parse_min_counts(["a="])
    count = client.get("/api/search", params={"q": "cat", "min_count": "a="})
    assert count.status_code == 400 and count.json()["error"].startswith("min_count 'a='"), count.text
    label = small.get("/api/browse", params={"label": "dog"})  # no tags pass in this catalog
    assert label.status_code == 400 and label.json()["error"].startswith("label needs labels"), label.text
    assert "--" not in count.json()["error"] + label.json()["error"]
    date = client.get("/api/search", params={"q": "cat", "before": "soon"})
    assert date.status_code == 400 and date.json()["error"].startswith("before: not a date")
    numeric = [f["name"] for f in client.get("/api/meta").json()["filters"] if f["type"] in ("float", "int")]
    for name in numeric:  # a plugin filter (min_aesthetic, ...): its API name, not --min-aesthetic
        bad = client.get("/api/search", params={"q": "cat", name: "abc"})
        assert bad.status_code == 400 and bad.json()["error"].startswith(f"{name} 'abc'"), bad.text


def test_api_message_rewording() -> None:
    from chronicon.web.wording import api_flags, api_message

    flags = api_flags(["min_aesthetic"])
    assert api_message("--min-count 'x': use LABEL=N", flags) == "min_count 'x': use LABEL=N"
    assert api_message("--min-aesthetic 'a': expected a number", flags) == "min_aesthetic 'a': expected a number"
    assert api_message("--has-speech needs transcripts", flags) == "has_speech needs transcripts"
    assert api_message("use --replace or --allow-host", flags) == "use --replace or --allow-host"  # not API names
    assert api_message("a--label b", flags) == "a--label b"


# -- 6. a catalog that cannot be written: JSON 503 / 507, never a 500 --------------------------------------------
def _namespaces_work(tmp_path: Path) -> bool:
    """Whether this machine lets us mount in a private mount namespace (root with CAP_SYS_ADMIN)."""
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs {probe} && touch {probe}/x"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=30).returncode == 0


@pytest.mark.parametrize("fault", ["read-only", "disk-full"])
def test_storage_faults_are_json_503_or_507(fault: str, small_catalog: Path, tmp_path: Path) -> None:
    import httpx

    if not _namespaces_work(tmp_path):
        pytest.skip("needs root with CAP_SYS_ADMIN to mount a read-only or full file system in a namespace")
    if fault == "read-only":  # the real catalog, bound read-only for the server alone
        catalog = small_catalog
        setup = f'mount --bind -o ro "{catalog}" "{catalog}"'
        expected, words = 503, "Read-only file system"
    else:  # a copy of the catalog on a tiny file system, filled to the last byte
        full = tmp_path / "full"
        full.mkdir()
        catalog = full / "catalog"
        setup = (f'mount -t tmpfs -o size=4m tmpfs "{full}" && cp -a "{small_catalog}" "{catalog}" && '
                 f'(dd if=/dev/zero of="{full}/filler" bs=64k 2>/dev/null; true)')  # fmt: skip
        expected, words = 507, "the disk is full"
    wrap = ["unshare", "-m", "sh", "-c", f'mount --make-rprivate / && {setup} && exec "$@"', "sh"]
    with served(catalog, SMALL_SETTINGS, wrap=wrap) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/api/stats").status_code == 200  # reading still works
        made = http.post("/api/albums", json={"name": "Nope", "kind": "image"})
        assert made.status_code == expected, made.text
        body = made.json()
        assert body["status"] == expected and words in body["error"] and "\n" not in body["error"]
        assert "Traceback" not in made.text and len(made.text) < 300
        gone = http.delete("/api/albums/Nope")
        # A full disk still reads (and locks): the album is not there. A read-only catalog refuses the lock first.
        assert gone.status_code == (expected if fault == "read-only" else 404), gone.text
    assert not any(a["name"] == "Nope" for a in _albums_in(small_catalog))


def _albums_in(catalog: Path) -> list[dict[str, Any]]:
    from chronicon_albums import service

    library = Library(catalog, overrides=SMALL_SETTINGS, environ={}, entry_points=False)
    return [service.summary_view(a) for a in service.store_of(library).all()]


def test_storage_errors_map_to_status_and_one_line() -> None:
    import errno

    from chronicon.web.wording import storage_message, storage_status

    full = OSError(errno.ENOSPC, "No space left on device", "/secret/path")
    assert storage_status(full) == 507 and "disk is full" in storage_message(full)
    assert "/secret" not in storage_message(full)
    read_only = OSError(errno.EROFS, "Read-only file system")
    assert storage_status(read_only) == 503 and storage_message(read_only).endswith("Read-only file system")
    lance = OSError("LanceError(IO): Generic LocalFileSystem error: Unable to open file /x: Read-only file "
                    "system (os error 30)\nmore lines")  # fmt: skip
    assert storage_status(lance) == 503 and "\n" not in storage_message(lance) and "/x" not in storage_message(lance)
    assert json.dumps(storage_message(OSError("odd"))) and storage_status(OSError("odd")) == 503
