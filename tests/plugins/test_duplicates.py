"""The duplicates plugin: multi-index hashing against brute force, groups of real near-duplicate photos, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance

from chronicon.catalog.vectors import VectorRow
from chronicon.library import Library
from chronicon.search import neighbors as neighbor_search
from mediafactory import make_jpeg, make_mp4
from plugin_cli import PLUGINS_DIR, run_cli, write_cli_config

sys.path.insert(0, str(PLUGINS_DIR))

from chronicon_duplicates import grouping
from chronicon_duplicates.commands import options_from
from chronicon_duplicates.grouping import cosine_pairs, exact_cosine_pairs, group_rows, load_assets, load_vectors
from chronicon_duplicates.mih import brute_force_pairs, near_pairs, pair_set, parse_hashes, plan_for


def _planted(rng: np.random.Generator, n: int, distance: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Random hashes, a fifth of them replaced by copies of others with 0..distance+2 bits flipped."""
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    for _ in range(n // 5):
        value = int(hashes[rng.integers(0, n)])
        for bit in rng.choice(64, size=int(rng.integers(0, distance + 3)), replace=False):
            value ^= 1 << int(bit)
        hashes[rng.integers(0, n)] = np.uint64(value)
    return hashes


@pytest.mark.parametrize(("n", "distance"), [(2, 0), (50, 8), (600, 8), (1500, 3), (2500, 12), (800, 0), (400, 20)])
def test_multi_index_hashing_finds_exactly_the_brute_force_pairs(n: int, distance: int) -> None:
    for seed in range(3):
        hashes = _planted(np.random.default_rng(seed * 100 + n), n, distance)
        fast, slow = near_pairs(hashes, distance), brute_force_pairs(hashes, distance)
        assert pair_set(fast) == pair_set(slow)
        assert np.array_equal(fast[2], slow[2]) and (fast[2] <= distance).all()


def test_plans_follow_the_pigeonhole_rule() -> None:
    small = plan_for(10, 8)
    assert len(small.widths) == 9 and small.radius == 0 and sum(small.widths) == 64  # k = d + 1 exact bands
    large = plan_for(100_000, 8)
    assert sum(large.widths) == 64 and large.radius == 8 // len(large.widths)
    assert max(large.widths) <= 22 and len(large.widths) < 9  # wider bands pay off for large collections
    with pytest.raises(ValueError):
        parse_hashes(["abc"])
    assert parse_hashes(["ffffffffffffffff"])[0] == np.uint64(2**64 - 1)


# -- real photos -----------------------------------------------------------------------------------------------
@pytest.fixture
def photos(tmp_path: Path, sample_photos: Path) -> Path:
    """The cat photo, a half-size copy, a quality-60 re-encode, a slightly cropped and brightened copy, plus three
    different photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    cat = Image.open(sample_photos / "chelsea.jpg").convert("RGB")
    width, height = cat.size
    cat.save(folder / "cat.jpg", quality=95)
    cat.resize((width // 2, height // 2), Image.Resampling.LANCZOS).save(folder / "cat-small.jpg", quality=92)
    Image.open(folder / "cat.jpg").save(folder / "cat-q60.jpg", quality=60)
    cropped = cat.crop((5, 4, width - 5, height - 4))
    ImageEnhance.Brightness(cropped).enhance(1.1).save(folder / "cat-crop.jpg", quality=92)
    for name in ("coffee", "astronaut", "rocket"):
        (folder / f"{name}.jpg").write_bytes((sample_photos / f"{name}.jpg").read_bytes())
    return folder


def _groups(lib: Library, **given: Any) -> list[list[str]]:
    options = options_from(lib, **given)
    rows = load_assets(lib.catalog, options)
    return [[Path(m["path"]).name for m in g.members] for g in group_rows(lib.catalog, rows, options, None)]


def test_copies_group_with_the_original_first(make_plugin_library: Callable[..., Library], photos: Path) -> None:
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(photos)])
    groups = _groups(lib)
    assert len(groups) == 1
    assert groups[0][0] == "cat.jpg" and sorted(groups[0]) == [
        "cat-crop.jpg",
        "cat-q60.jpg",
        "cat-small.jpg",
        "cat.jpg",
    ]
    tight = _groups(lib, phash_distance=0)  # the crop's hash moved a few bits: a strict threshold leaves it out
    assert len(tight) == 1 and "cat-crop.jpg" not in tight[0] and tight[0][0] == "cat.jpg"
    assert _groups(lib, under=str(photos / "elsewhere")) == []
    assert _groups(lib, under=str(photos)) == groups and _groups(lib, under=str(photos) + "/") == groups
    assert _groups(lib, under=str(photos)[:-1]) == []  # a prefix of the folder's name is another folder
    assert load_assets(lib.catalog, options_from(lib, under=str(photos / "it's"))) == []  # quoted in SQL
    assert load_assets(lib.catalog, options_from(lib, kind="image' OR kind != 'x")) == []
    assert _groups(lib, kind="video") == []
    by_size = _groups(lib, rank_by=["size"])  # the largest file first when only size counts
    sizes = {p.name: p.stat().st_size for p in photos.iterdir()}
    assert by_size[0][0] == max(by_size[0], key=lambda n: sizes[n])


def test_same_layout_in_other_colours_is_not_a_duplicate(
    make_plugin_library: Callable[..., Library], tmp_path: Path
) -> None:
    """The pHash sees luminance only: one pattern in red and in blue hashes alike, the dominant colours differ."""
    folder = tmp_path / "colours"
    folder.mkdir()
    make_jpeg(folder / "red.jpg", size=(320, 240), color=(200, 30, 30))
    make_jpeg(folder / "blue.jpg", size=(320, 240), color=(30, 30, 200))
    make_jpeg(folder / "red-copy.jpg", size=(160, 120), color=(200, 30, 30), quality=60)
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(folder)])
    assert _groups(lib) == [["red.jpg", "red-copy.jpg"]]
    assert sorted(_groups(lib, max_color_distance=500.0)[0]) == ["blue.jpg", "red-copy.jpg", "red.jpg"]


def test_videos_group_only_with_videos(make_plugin_library: Callable[..., Library], photos: Path) -> None:
    make_mp4(photos / "clip.mp4", seconds=1.0, audio=False)
    make_mp4(photos / "clip-copy.mp4", seconds=1.0, audio=False, creation_time="2024-01-01T00:00:00Z")
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(photos)])
    (videos,) = _groups(lib, kind="video")
    assert sorted(videos) == ["clip-copy.mp4", "clip.mp4"]
    assert [len(g) for g in _groups(lib)] == [4, 2] and _groups(lib, kind="image")[0][0] == "cat.jpg"


def test_missing_files_are_left_out(make_plugin_library: Callable[..., Library], photos: Path) -> None:
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(photos)])
    (photos / "cat-q60.jpg").unlink()
    lib.scan([str(photos)])
    assert sorted(_groups(lib)[0]) == ["cat-crop.jpg", "cat-small.jpg", "cat.jpg"]


def test_embeddings_confirm_reject_or_add_pairs(make_plugin_library: Callable[..., Library], photos: Path) -> None:
    """Vectors written to a real vector table: a CLIP-like space disagreeing about one copy rejects it, and a
    near-identical pair of vectors links two photos whose hashes differ."""
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(photos)])
    ids = {Path(r["path"]).name: r["id"] for r in lib.catalog.rows(None, ["id", "path"])}
    rng = np.random.default_rng(0)
    base = rng.normal(size=32)
    vectors = {name: base + rng.normal(scale=0.05, size=32) for name in ids}
    vectors["cat-small.jpg"] = rng.normal(size=32)  # the embedding says it is something else
    vectors["rocket.jpg"] = rng.normal(size=32)
    vectors["coffee.jpg"] = vectors["rocket.jpg"] + rng.normal(scale=0.01, size=32)  # cosine ~1, hashes far apart
    vectors["astronaut.jpg"] = rng.normal(size=32)
    rows = [VectorRow(ids[n], (v / np.linalg.norm(v)).astype(np.float32)) for n, v in vectors.items()]
    lib.catalog.vector_table("clip-test-space", 32).replace(rows)
    options = options_from(lib)
    found = group_rows(lib.catalog, load_assets(lib.catalog, options), options, "clip-test-space")
    groups = {g.members[0]["path"]: g.members for g in found}
    cat = groups[str(photos / "cat.jpg")]
    assert sorted(Path(m["path"]).name for m in cat) == ["cat-crop.jpg", "cat-q60.jpg", "cat.jpg"]
    assert all(m["cosine"] > 0.9 and "phash+cosine" in m["linked_by"] for m in cat[1:])
    pair = next(members for members in groups.values() if len(members) == 2)
    assert sorted(Path(m["path"]).name for m in pair) == ["coffee.jpg", "rocket.jpg"]
    assert pair[1]["linked_by"] == ["cosine"] and pair[1]["phash_distance"] > 8
    # ConSE vectors (label based) neither confirm nor add: under a ":conse" name the pHash (+ colour) groups stand
    lib.catalog.vector_table("minilm-test:conse", 32).replace(rows)
    found = group_rows(lib.catalog, load_assets(lib.catalog, options), options, "minilm-test:conse")
    assert [len(g.members) for g in found] == [4]


def test_blocked_cosine_pairs_equal_per_asset_searches(
    make_plugin_library: Callable[..., Library], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The NumPy top-k by blocks, and the self-join (exact at this size), find exactly what one vector-table
    search per asset finds."""
    lib = make_plugin_library(disabled=("albums",))
    rng = np.random.default_rng(7)
    vectors: dict[str, np.ndarray[Any, Any]] = {}
    for group in range(60):  # clusters of 1..14 near copies: more than `neighbors` in some
        base = rng.normal(size=48)
        for copy in range(int(rng.integers(1, 15))):
            vectors[f"a{group:03d}-{copy:02d}"] = base + rng.normal(scale=0.12, size=48)
    rows = [VectorRow(a, (v / np.linalg.norm(v)).astype(np.float32)) for a, v in vectors.items()]
    table = lib.catalog.vector_table("pixels-test", 48)
    table.replace(rows)
    ids = sorted(vectors)
    loaded = load_vectors(lib.catalog, "pixels-test", ids)
    monkeypatch.setattr(grouping, "WHOLE_TABLE", 0)  # the same vectors read in one scan of the table
    whole = load_vectors(lib.catalog, "pixels-test", ids)
    assert sorted(whole.ids) == ids and all(
        np.allclose(whole.matrix[whole.row[a]], loaded.matrix[loaded.row[a]]) for a in ids
    )
    for neighbors, threshold in ((5, 0.95), (3, 0.9), (20, 0.97)):
        fast = {(a, b) for a, b, _ in exact_cosine_pairs(loaded, neighbors, threshold, block=64)}
        joined = {(a, b) for a, b, _ in cosine_pairs(loaded, neighbors, threshold)}
        assert joined == fast
        slow = set()
        for row in rows:
            for hit in table.search(row.vector, k=neighbors + 1, asset_ids=set(ids), min_score=threshold):
                if hit.asset_id != row.asset_id:
                    slow.add((row.asset_id, hit.asset_id))
        assert fast == slow and len(fast) > 50, (neighbors, threshold, len(fast), len(slow))


def test_indexed_cosine_pairs_find_the_planted_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the IVF index (forced at 6,000 vectors: 12 lists), the cosine-only pairs are the exact method's."""
    monkeypatch.setattr(neighbor_search, "EXACT_BELOW", 1_000)
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(40, 64))
    matrix = centres[rng.integers(0, 40, 6_000)] + rng.normal(scale=0.8, size=(6_000, 64))
    copies = rng.choice(6_000, size=300, replace=False)
    matrix[copies[150:]] = matrix[copies[:150]] + rng.normal(scale=0.02, size=(150, 64))
    matrix = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    vectors = grouping.Vectors([f"a{i:05d}" for i in range(6_000)], matrix)
    exact = {(a, b) for a, b, _ in exact_cosine_pairs(vectors, 10, 0.97)}
    found = {(a, b) for a, b, _ in cosine_pairs(vectors, 10, 0.97, probes=3)}
    planted = {(f"a{i:05d}", f"a{j:05d}") for i, j in zip(copies[:150], copies[150:], strict=True)}
    assert planted <= exact and len(exact) == 300  # both directions of each copy, nothing else
    assert found == exact


def test_cli_json_and_files_left_alone(tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_cli_config(tmp_path, disabled=["faces", "extract", "albums"])
    assert run_cli(["scan", str(photos)], config) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.iterdir()}
    capsys.readouterr()
    assert run_cli(["duplicates", "--json"], config) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["assets"] == 7 and out["settings"]["phash_distance"] == 8 and out["settings"]["space"] is None
    (group,) = out["groups"]
    assert group["kind"] == "image" and group["members"][0]["best"] is True
    assert Path(group["members"][0]["path"]).name == "cat.jpg"
    keys = {
        "id",
        "path",
        "best",
        "width",
        "height",
        "size",
        "sharpness",
        "aesthetic",
        "phash",
        "phash_distance",
        "cosine",
        "linked_by",
    }
    assert all(set(m) == keys for m in group["members"])
    assert all(m["phash_distance"] <= 8 and m["linked_by"] == ["phash"] for m in group["members"])
    assert run_cli(["duplicates", "--phash-distance", "0", "--json"], config) == 0
    assert len(json.loads(capsys.readouterr().out)["groups"][0]["members"]) == 3
    assert run_cli(["duplicates"], config) == 0
    text = capsys.readouterr().out
    assert "cat.jpg" in text and "nothing was changed on disk" in text
    assert run_cli(["duplicates", "--help"], config) == 0
    assert "never deletes" in capsys.readouterr().out
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.iterdir()} == before


def test_disabled_plugin_has_no_command(tmp_path: Path) -> None:
    """In a fresh process (click's command group is global, so in-process runs keep commands registered)."""
    config = tmp_path / "config.yaml"
    plugins = {"paths": [str(PLUGINS_DIR)], "disabled": ["faces", "extract", "duplicates"]}
    config.write_text(yaml.safe_dump({"catalog": str(tmp_path / "catalog"), "plugins": plugins}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    proc = subprocess.run(
        [sys.executable, "-m", "chronicon", "--config", str(config), "duplicates"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "No such command" in proc.stderr
