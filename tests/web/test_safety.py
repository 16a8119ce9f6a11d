"""Safety: the token, traversal and ids, symlinks that escape the roots, loopback by default, read-only."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronicon.library import Library
from websample import REPO, TEST_HOSTS, Sample

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(web_sample: Sample) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    with TestClient(create_app(web_sample.library, token=TOKEN, allowed_hosts=TEST_HOSTS)) as client:
        yield client


def any_asset(web_sample: Sample) -> str:
    return str(next(iter(web_sample.library.catalog.rows(columns=["id"])))["id"])


def test_token_is_required_for_api_and_media(guarded: Any, web_sample: Sample) -> None:
    asset = any_asset(web_sample)
    for path in ("/api/stats", "/api/search?q=cat", "/api/meta", f"/api/assets/{asset}",
                 f"/api/assets/{asset}/original", f"/api/assets/{asset}/thumbnail", "/api/scan"):  # fmt: skip
        missing = guarded.get(path)
        assert missing.status_code == 401 and missing.json() == {"error": missing.json()["error"], "status": 401}
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = guarded.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "wrong token"
        assert guarded.get(path, params={"token": "nope"}).status_code == 401
        assert guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path
    media = guarded.get(f"/api/assets/{asset}/original", params={"token": TOKEN})
    assert media.status_code == 200 and media.content
    assert guarded.get("/").status_code == 200  # the page shell holds no data; it asks for the token


def test_traversal_and_bad_ids_are_refused(client: Any) -> None:
    for path in (
        "/api/assets/..%2f..%2fetc%2fpasswd/original",
        "/api/assets/../../etc/passwd/original",
        "/api/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd/original",
        "/api/assets/..%5c..%5cwindows/original",
        "/api/assets/a%00b/original",
        "/api/assets/%2Fetc%2Fpasswd/thumbnail",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/../app.py",
    ):
        response = client.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert b"root:" not in response.content
    for under in ("/etc/../etc", "..", "a/../../b"):
        response = client.get("/api/search", params={"q": "cat", "under": under})
        assert response.status_code == 400 and "'..'" in response.json()["error"]


def test_symlink_escaping_the_roots_is_refused(tmp_path: Path, sample_photos: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    root = tmp_path / "photos"
    root.mkdir()
    (root / "cat.jpg").write_bytes((sample_photos / "chelsea.jpg").read_bytes())
    (root / "cup.jpg").write_bytes((sample_photos / "coffee.jpg").read_bytes())
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not for the web")
    overrides = {"tags.enabled": False, "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False}
    library = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    assert library.scan([root]).counts["new"] == 2
    ids = {Path(r["path"]).name: r["id"] for r in library.catalog.rows(columns=["id", "path"])}
    (root / "cat.jpg").unlink()
    (root / "cat.jpg").symlink_to(secret)  # replaced behind the catalog's back
    os.symlink(root / "cup.jpg", tmp_path / "cup-link.jpg")  # a link inside the roots stays fine
    with TestClient(create_app(library, allowed_hosts=TEST_HOSTS)) as client:
        refused = client.get(f"/api/assets/{ids['cat.jpg']}/original")
        assert refused.status_code == 403 and "outside" in refused.json()["error"]
        assert b"not for the web" not in refused.content
        assert client.get(f"/api/assets/{ids['cup.jpg']}/original").status_code == 200
        (root / "cup.jpg").unlink()
        assert client.get(f"/api/assets/{ids['cup.jpg']}/original").status_code == 404
        empty = client.get("/api/search", params={"q": "cat"})  # no ML pass ran: nothing to search yet
        assert empty.status_code == 503 and "scan" in empty.json()["error"]
    assert secret.read_text() == "not for the web"


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"catalog: {tmp_path / 'catalog'}\ntags:\n  enabled: false\nplugins:\n  paths: []\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    env.pop("CHRONICON_SERVER__TOKEN", None)
    shown = subprocess.run([sys.executable, "-m", "chronicon", "--config", str(config), "serve", "--print-settings"],
                           capture_output=True, text=True, env=env, timeout=60, check=True)  # fmt: skip
    assert shown.stdout.splitlines() == ["host 127.0.0.1", "port 8765", "token none"]
    command = [sys.executable, "-m", "chronicon", "--config", str(config), "serve", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert server.stdout is not None
        match = None
        for _ in range(50):  # the banner comes once the socket listens (log lines may come first)
            banner = server.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
            if match or not banner:
                break
        assert match, "no banner"
        port = int(match.group(1))
        import httpx

        answer = httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=60)  # queued until uvicorn accepts
        assert answer.status_code == 200 and answer.json()["assets"] == 0
        with socket.socket() as other:  # not listening on the machine's other addresses
            other.settimeout(1)
            host = socket.gethostbyname(socket.gethostname())
            if not host.startswith("127."):
                assert other.connect_ex((host, port)) != 0
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_non_loopback_without_token_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chronicon.cli import main
    from chronicon.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    config = tmp_path / "config.yaml"
    config.write_text(f"catalog: {tmp_path / 'catalog'}\ntags:\n  enabled: false\nserver:\n  port: 9999\n")
    for extra, warned in ((["--host", "0.0.0.0"], True), (["--host", "0.0.0.0", "--token", "t"], False), ([], False)):
        with pytest.raises(SystemExit) as done:
            main(["--config", str(config), "serve", "--print-settings", *extra])
        assert done.value.code == 0
        out, err = capsys.readouterr()
        assert ("WARNING" in err and "WITHOUT a token" in err) == warned
        assert "port 9999" in out and ("host 0.0.0.0" in out) == bool(extra)
