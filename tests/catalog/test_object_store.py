"""A catalog on object storage (`s3://bucket/prefix`), against moto's S3 server: scan, search, info, rescan,
thumbnails served by the web app, the sweep, half-created tables, and what stays local-only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chronicon.catalog.location import parse_location
from chronicon.catalog.store import Catalog
from chronicon.errors import ConfigError
from chronicon.library import Library
from mediafactory import make_jpeg
from ml_switches import NO_ML

CAMERAS = (("Canon", "EOS R5"), ("NIKON CORPORATION", "NIKON Z 6"), ("SONY", "ILCE-7M3"))
FILES = 9


def make_photos(root: Path, count: int = FILES) -> list[Path]:
    """`count` distinct JPEGs in three folders, three cameras, one year each."""
    paths = []
    for i in range(count):
        make, model = CAMERAS[i % 3]
        path = root / f"d{i % 3}" / f"p{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        make_jpeg(path, size=(48 + i, 32), color=(i * 25 % 255, 40, 90), make=make, model=model,
                  taken_at=f"{2019 + i % 3}:07:04 15:30:00")  # fmt: skip
        paths.append(path)
    return paths


def s3_library(endpoint: Any, bucket: str, staging: Path, **overrides: object) -> Library:
    settings = {**NO_ML, "catalog_storage_options": endpoint.options, "catalog_staging": str(staging), **overrides}
    return Library(f"s3://{bucket}/lib", overrides=settings, environ={}, entry_points=False)


def keys(endpoint: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Object key -> size under the prefix."""
    out: dict[str, int] = {}
    for page in endpoint.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    return out


def test_scan_into_s3_then_info_search_and_an_unchanged_rescan(
    s3_endpoint: Any, s3_bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    photos = make_photos(root)
    library = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging")
    summary = library.scan([str(root)])
    assert summary.counts["new"] == FILES and not summary.failures
    assert summary.catalog == f"s3://{s3_bucket}/lib"

    stored = keys(s3_endpoint, s3_bucket, "lib/")
    assert any(k.startswith("lib/assets.lance/_versions/") for k in stored)
    thumbs = {k for k in stored if k.startswith("lib/thumbnails/")}
    assert len(thumbs) == FILES
    assert not list((tmp_path / "staging").rglob("*.webp"))  # uploaded, then the staged copies removed
    assert not list((tmp_path / "staging").glob("*.lance"))  # the tables live only in the bucket

    # A second Library (another process would do the same) reads it all back from the bucket.
    reader = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging-2")
    assert reader.stats()["assets"] == FILES
    row = reader.info(photos[4])
    assert row is not None and row["width"] == 52 and row["camera_make"].startswith("NIKON")
    assert f"lib/{row['thumbnail']}" in thumbs
    nikons = reader.browse(camera="nikon", limit=50)
    assert sorted(Path(h.path).name for h in nikons) == ["p001.jpg", "p004.jpg", "p007.jpg"]
    in_2021 = reader.browse(after="2021-01-01", limit=50)
    assert {Path(h.path).name for h in in_2021} == {"p002.jpg", "p005.jpg", "p008.jpg"}

    again = reader.scan([str(root)])
    assert again.counts["unchanged"] == FILES and again.updated == 0 and again.batches == 0
    assert reader.stats()["assets"] == FILES

    # A changed file is re-analysed; a deleted one is purged with its thumbnail object.
    make_jpeg(photos[0], size=(70, 40), color=(1, 2, 3))
    photos[1].unlink()
    third = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging", **{"scan.missing_grace_days": 0})
    changed = third.scan([str(root)])
    assert changed.counts["changed"] == 1 and changed.counts["deleted"] == 1
    assert third.info(photos[0])["width"] == 70  # type: ignore[index]
    after = {k for k in keys(s3_endpoint, s3_bucket, "lib/thumbnails/")}
    assert len(after) == FILES - 1
    assert third.stats()["assets"] == FILES - 1


def test_web_app_serves_thumbnails_from_the_bucket(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    root = tmp_path / "photos"
    make_photos(root, 3)
    library = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging")
    library.scan([str(root)])
    rows = list(library.catalog.rows(columns=["id", "thumbnail"]))
    client = s3_endpoint.client()
    with TestClient(create_app(library, allowed_hosts=("testserver",))) as web:
        for row in rows:
            response = web.get(f"/api/assets/{row['id']}/thumbnail")
            assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
            stored = client.get_object(Bucket=s3_bucket, Key=f"lib/{row['thumbnail']}")["Body"].read()
            assert response.content == stored and stored[:4] == b"RIFF"
        asset = web.get(f"/api/assets/{rows[0]['id']}").json()
        assert asset["thumbnail_url"].endswith("/thumbnail")
        # A thumbnail that is not in the bucket (deleted by hand, a killed upload) is a 404, not a crash.
        client.delete_object(Bucket=s3_bucket, Key=f"lib/{rows[0]['thumbnail']}")
        missing = web.get(f"/api/assets/{rows[0]['id']}/thumbnail")
        assert missing.status_code == 404 and "no thumbnail" in missing.text
    assert library.info(root / "d0" / "p000.jpg") is not None  # info reads the row, with or without its picture


def test_sweep_removes_unreferenced_thumbnail_objects(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    make_photos(root, 3)
    library = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging")
    library.scan([str(root)])
    client = s3_endpoint.client()
    stray = f"lib/thumbnails/ab/{'ab' * 16}.webp"  # a killed scan's upload that no row names
    plugin = "lib/thumbnails/faces/someone.webp"  # a plugin's folder: left to the plugin
    for key in (stray, plugin):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"RIFF0000WEBP")
    make_jpeg(root / "d0" / "new.jpg", size=(50, 30))  # a scan that writes a batch sweeps afterwards
    summary = library.scan([str(root)])
    assert any("removed 1 unreferenced thumbnails" in note for note in summary.notes), summary.notes
    left = keys(s3_endpoint, s3_bucket, "lib/thumbnails/")
    assert stray not in left and plugin in left
    assert len([k for k in left if "/faces/" not in k]) == 4


def test_half_created_table_on_s3_is_removed_on_open(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    library = s3_library(s3_endpoint, s3_bucket, tmp_path / "staging")
    assert library.catalog.count() == 0
    client = s3_endpoint.client()
    client.put_object(Bucket=s3_bucket, Key="lib/vectors_x.lance/data/0.lance", Body=b"half a table")
    reopened = Catalog(library.catalog_location)
    assert reopened.repaired == ["vectors_x"]
    assert not keys(s3_endpoint, s3_bucket, "lib/vectors_x.lance/")
    assert reopened.count() == 0


def test_catalog_check_says_it_is_local_only(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHRONICON_", "AWS_"))}
    env.update(s3_endpoint.environ, CHRONICON_CATALOG_STAGING=str(tmp_path / "staging"))
    cmd = [sys.executable, "-m", "chronicon", "--catalog", f"s3://{s3_bucket}/lib", "catalog", "check"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "local catalog folder only" in done.stderr and f"s3://{s3_bucket}/lib" in done.stderr


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://", "names no bucket"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("s3://bucket/a/../b", "'..'"),
        ("gs://bucket/x", "scheme 'gs'"),
    ],
)
def test_bad_catalog_uris_are_clear_errors(uri: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_location(uri, environ={})


def test_storage_options_from_environment_and_config() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "k"}
    location = parse_location("s3://bucket/a/b/", storage_options=["region=us-east-2"], environ=environ)
    assert location.uri == "s3://bucket/a/b" and location.key("scan.lease") == "a/b/scan.lease"
    assert location.storage_options == {"aws_endpoint": "http://127.0.0.1:9000", "aws_region": "us-east-2",
                                        "aws_access_key_id": "k", "allow_http": "true"}  # fmt: skip
    with pytest.raises(ConfigError, match="not name=value"):
        parse_location("s3://bucket/a", storage_options=["region"], environ={})


def test_importing_chronicon_does_not_import_boto3_and_without_it_s3_is_a_clear_error(tmp_path: Path) -> None:
    code = (
        "import sys; import chronicon.library, chronicon.cli.main, chronicon.catalog.store, chronicon.api\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 was imported'\n"
        "sys.modules['boto3'] = None  # as if the s3 extra were not installed\n"
        "from chronicon.library import Library\n"
        f"lib = Library('s3://bucket/lib', overrides={{'catalog_staging': {str(tmp_path)!r}}}, environ={{}},"
        " entry_points=False)\n"
        "try:\n    lib.catalog\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ConfigError" in done.stdout and "pip install 'chronicon[s3]'" in done.stdout


def filled(catalog: Catalog) -> Catalog:
    """The search tests' hand-made assets and vectors (tests/vectorfactory.py), with their indexes."""
    from chronicon.catalog.schema import empty_row
    from chronicon.catalog.vectors import VectorRow
    from vectorfactory import ASSETS, DIM, SPACE, unit

    rows, vectors = [], []
    for asset_id, spec in ASSETS.items():
        row = empty_row(catalog.schema)
        row.update(id=asset_id, path=f"/photos/{asset_id}.jpg", kind=spec["kind"], taken_at=spec["taken_at"],
                   camera_make=spec["camera_make"], camera_model=spec["camera_model"], labels=spec["labels"],
                   label_scores=[0.9] * len(spec["labels"]), labels_text=" ".join(spec["labels"]),
                   missing=bool(spec.get("missing")), status="ok", size=1, mtime_ns=0)  # fmt: skip
        rows.append(row)
        vectors.append(VectorRow(asset_id, unit(**spec["vec"])))
    catalog.upsert(rows)
    catalog.vector_table(SPACE, DIM).replace(vectors)
    catalog.ensure_search_indexes(full_text=["labels_text"])
    catalog.compact()  # LanceDB's optimize runs on the object store too
    return catalog


def test_vector_and_text_search_on_s3_match_a_local_catalog(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    import pyarrow as pa

    from chronicon.plugins import PluginHost
    from chronicon.search.engine import SearchEngine
    from vectorfactory import AxisEncoder

    columns = {"labels": pa.list_(pa.string()), "label_scores": pa.list_(pa.float64()), "labels_text": pa.string(),
               "object_counts": pa.list_(pa.string())}  # fmt: skip
    place = parse_location(f"s3://{s3_bucket}/vec", storage_options=s3_endpoint.options, staging=tmp_path / "stage",
                           environ={})  # fmt: skip
    host = PluginHost()
    host.load(entry_points=False)
    spaces, text_lists = host.search_spaces()
    results = {}
    for name, where in (("local", tmp_path / "local"), ("s3", place)):
        catalog = filled(Catalog(where, extra_columns=columns))
        engine = SearchEngine(catalog, [], {"space": "auto", "hybrid": True, "rrf_k": 60, "cutoff": False},
                              spaces=spaces, text_lists=text_lists, encoders=[AxisEncoder()])  # fmt: skip
        results[name] = {q: [(h.asset_id, round(h.score, 5)) for h in engine.search(q, limit=10)]
                         for q in ("cat", "beach sunset", "dog")}  # fmt: skip
    assert results["s3"] == results["local"]
    assert results["s3"]["cat"][0][0] == "a-cat" and "a-gone" not in dict(results["s3"]["cat"])
    assert keys(s3_endpoint, s3_bucket, "vec/")  # the tables are in the bucket


@pytest.mark.parametrize("relative", ["thumbnails/../scan.lease", "/thumbnails/ab/x.webp", "assets.lance/x", ""])
def test_object_keys_the_web_app_reads_stay_inside_thumbnails(relative: str) -> None:
    pytest.importorskip("fastapi")
    from fastapi import HTTPException

    from chronicon.web.security import catalog_key

    with pytest.raises(HTTPException) as refused:
        catalog_key(relative)
    assert refused.value.status_code == 403
    assert catalog_key("thumbnails/ab/" + "ab" * 16 + ".webp").startswith("thumbnails/ab/")


def test_a_bucket_that_does_not_exist_is_a_clear_error(s3_endpoint: Any, tmp_path: Path) -> None:
    from chronicon.errors import CatalogStorageError

    library = Library("s3://no-such-bucket-here/lib", environ={}, entry_points=False,
                      overrides={**NO_ML, "catalog_storage_options": s3_endpoint.options,
                                 "catalog_staging": str(tmp_path / "staging")})  # fmt: skip
    with pytest.raises(CatalogStorageError, match=r"cannot open the catalog s3://no-such-bucket-here/lib: .*bucket"):
        library.catalog  # noqa: B018
