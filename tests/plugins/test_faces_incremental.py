"""Faces clustered sub-quadratically: the sparse Chinese whispers against the all-pairs one, incremental updates
that keep names and merges, and `people list` pages that hold every person once."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import display_path, raw_path
from chronicon.catalog.vectors import VectorRow
from chronicon.library import Library

pytest.importorskip("dlib")

from chronicon_faces import cluster, store
from chronicon_faces.analyzer import FACE_DIM, FACE_SPACE
from chronicon_faces.graph import chinese_whispers, sparse_clusters
from chronicon_faces.people import find, summaries
from chronicon_faces.store import read_assignments, read_people

OFF = ("aesthetic", "albums", "duplicates")


def _identities(people: int, per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces of `people` identities, `per` each: centres about 0.9 apart, faces about 0.35 from each other."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.9 / np.sqrt(2 * FACE_DIM), size=(people, FACE_DIM))
    truth = np.repeat(np.arange(people), per)
    faces = centres[truth] + rng.normal(scale=0.35 / np.sqrt(2 * FACE_DIM), size=(len(truth), FACE_DIM))
    return faces.astype(np.float32), truth


def _partition(groups: list[list[int]]) -> set[frozenset[int]]:
    return {frozenset(g) for g in groups}


def test_sparse_clusters_are_the_all_pairs_ones() -> None:
    faces, truth = _identities(40, 12, 1)
    expected = {frozenset(np.flatnonzero(truth == t).tolist()) for t in range(40)}
    assert _partition(sparse_clusters(faces, 0.5)) == expected
    assert _partition(cluster.all_pairs_clusters(list(faces), 0.5)) == expected


def test_chinese_whispers_joins_a_pair_and_keeps_apart_what_has_no_edge() -> None:
    left, right = np.array([0, 2, 3], np.int64), np.array([1, 3, 4], np.int64)
    labels = chinese_whispers(6, left, right)
    assert labels[0] == labels[1] and labels[2] == labels[3] == labels[4] and len(set(labels.tolist())) == 3


def _add_faces(library: Library, faces: np.ndarray, first: int) -> list[str]:
    """One asset per face (ids from `first`), with its descriptor in the faces table."""
    catalog = library.catalog
    ids = [f"{first + i:016x}" for i in range(len(faces))]
    rows = []
    for asset_id in ids:
        row = empty_row(catalog.schema)
        path = f"/faces/{asset_id}.jpg"
        row.update(id=asset_id, path=display_path(path), path_raw=raw_path(path), kind="image", size=10, mtime_ns=1,
                   status="ok", missing=False, face_count=1)  # fmt: skip
        rows.append(row)
    catalog.upsert(rows)
    vectors = [VectorRow(a, v, segment=1, content_hash=f"d{a}") for a, v in zip(ids, faces, strict=True)]
    catalog.vector_table(FACE_SPACE, FACE_DIM).replace(vectors)  # replaces only these assets' rows
    return ids


def test_new_faces_join_named_and_merged_people(make_plugin_library: Any) -> None:
    library = make_plugin_library(enable=("faces",), disabled=OFF)
    faces, truth = _identities(6, 10, 2)
    old = np.flatnonzero(np.arange(len(faces)) % 10 < 7)  # 7 faces of each identity first, 3 later
    new = np.flatnonzero(np.arange(len(faces)) % 10 >= 7)
    ids = _add_faces(library, faces[old], 0)
    report = cluster.update(library.catalog, distance=0.5, min_faces=1)
    assert report.new_people == 6 and report.new_faces == len(old)
    owner = {key[0]: pid for key, (pid, _) in read_assignments(library.catalog).items()}
    alice = owner[ids[0]]  # identity 0
    cluster.rename(library.catalog, find(library.catalog, alice), "Alice")
    both = owner[ids[int(np.flatnonzero(truth[old] == 1)[0])]]  # identity 1 ...
    other = owner[ids[int(np.flatnonzero(truth[old] == 2)[0])]]  # ... and 2: one person, by hand
    merged = cluster.merge(library.catalog, find(library.catalog, both), [find(library.catalog, other)])
    added = _add_faces(library, faces[new], 10_000)
    report = cluster.update(library.catalog, distance=0.5, min_faces=1)
    assert report.kept == len(old) and report.dropped == 0  # the update undoes neither the name nor the merge
    people = read_people(library.catalog)
    assert people[alice].name == "Alice" and other not in people
    after = {key[0]: pid for key, (pid, _) in read_assignments(library.catalog).items()}
    assert all(after[a] == owner[a] for a in ids if owner[a] not in (both, other))
    assert all(after[a] == merged.id for a in ids if owner[a] in (both, other))
    for asset_id, identity in zip(added, truth[new].tolist(), strict=True):
        if identity not in (1, 2):  # (the merged person's centroid lies between two unlike faces: see docs)
            assert after[asset_id] == owner[ids[int(np.flatnonzero(truth[old] == identity)[0])]], asset_id
    assert people[alice].face_count == people[alice].asset_count == 10
    assert people[merged.id].asset_count == people[merged.id].face_count >= 14
    # a full recluster keeps the named person whole
    report = cluster.update(library.catalog, distance=0.5, min_faces=1, rebuild=True)
    assert report.kept == 10 and read_people(library.catalog)[alice].face_count == 10


def test_people_list_pages_hold_every_person_once(make_plugin_library: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    library = make_plugin_library(enable=("faces",), disabled=OFF)
    faces, _ = _identities(23, 3, 3)
    _add_faces(library, faces, 0)
    monkeypatch.setattr(store, "WHOLE_TABLE", 10)  # the descriptors read in one scan of the table
    report = cluster.update(library.catalog, distance=0.5, min_faces=1)
    assert report.new_people == 23 and report.new_faces == 69
    whole = summaries(library.catalog)
    assert whole.total == 23 and len(whole.people) == 23
    seen: list[int] = []
    for offset in range(0, 30, 5):
        page = summaries(library.catalog, limit=5, offset=offset)
        assert page.total == 23 and len(page.people) == min(5, max(0, 23 - offset))
        seen.extend(s.person.id for s in page.people)
    assert sorted(seen) == sorted(s.person.id for s in whole.people) and len(set(seen)) == 23
    first = whole.people[0].to_json()
    assert first["faces"] == 3 and first["assets"] == 3 and first["example"].startswith(display_path("/faces/"))
    with pytest.raises(ValueError, match="negative"):
        summaries(library.catalog, offset=-1)
    assert json.dumps([s.to_json() for s in whole.people])  # JSON-ready
