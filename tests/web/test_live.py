"""Serving while a scan runs in another process: searches keep answering, then find the new files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from websample import REPO, TEST_HOSTS, Sample


def test_searches_keep_working_during_a_scan(web_sample: Sample, sample_photos: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    catalog = tmp_path / "catalog"
    shutil.copytree(web_sample.catalog, catalog)
    more = tmp_path / "more"
    more.mkdir()
    for name in ("horse", "camera", "coins"):
        shutil.copy(sample_photos / f"{name}.jpg", more / f"{name}.jpg")
    config = tmp_path / "config.yaml"
    settings = {k: v for k, v in web_sample.settings.items() if k != "plugins.paths"}
    tree: dict[str, object] = {"catalog": str(catalog), "plugins": {"paths": web_sample.settings["plugins.paths"]}}
    for key, value in settings.items():
        section, _, name = key.partition(".")
        if name:
            tree.setdefault(section, {})[name] = value  # type: ignore[index]
        else:
            tree[key] = value
    config.write_text(yaml.safe_dump(tree))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    with TestClient(create_app(web_sample.open(catalog), allowed_hosts=TEST_HOSTS)) as client:
        before = client.get("/api/search", params={"q": "horse", "kind": "image"}).json()["results"]
        assert "horse.jpg" not in [Path(r["path"]).name for r in before]
        scan = subprocess.Popen([sys.executable, "-m", "chronicon", "--config", str(config), "scan", str(more)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        searches, seen_scanning = 0, False
        while scan.poll() is None or searches == 0:
            response = client.get("/api/search", params={"q": "horse", "limit": 5})
            assert response.status_code == 200, response.text
            assert client.get("/api/browse", params={"limit": 50}).status_code == 200
            seen_scanning = seen_scanning or client.get("/api/scan").json()["scanning"]
            searches += 1
        assert scan.returncode == 0, scan.stderr.read() if scan.stderr else ""
        after = client.get("/api/search", params={"q": "horse", "kind": "image"}).json()["results"]
        assert Path(after[0]["path"]).name == "horse.jpg"
        assert client.get("/api/stats").json()["assets"] == 9
        assert client.get(after[0]["media_url"]).status_code == 200
    assert searches >= 3 and seen_scanning, (searches, seen_scanning)
