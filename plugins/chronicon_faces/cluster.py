"""Incremental clustering of face descriptors into people, plus naming and merging them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chronicon.api import Catalog, NeighborIndex

from .graph import PROBES, sparse_clusters
from .store import (
    Assignments,
    FaceKey,
    Person,
    assets_of_person,
    current_faces,
    face_vectors,
    move_people,
    now_iso,
    read_assignments,
    read_people,
    write_assignments,
    write_people,
)


@dataclass
class ClusterReport:
    """What one clustering run changed."""

    faces: int = 0
    kept: int = 0
    joined: int = 0  # unassigned faces that joined an existing person
    new_people: int = 0
    new_faces: int = 0  # faces of the new people
    unassigned: int = 0  # left over: in clusters smaller than min_faces
    dropped: int = 0  # assignments of faces that are gone or changed

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def update(catalog: Catalog, *, distance: float, min_faces: int, rebuild: bool = False) -> ClusterReport:
    """Bring people up to date with the stored faces: drop assignments of faces that are gone or whose
    descriptor changed, put each new face with the nearest person within `distance`, and cluster the rest into
    new people.

    Only the descriptors of unassigned faces (and of the members of people that lost faces) are read; the
    faces and assignments are read without vectors, and only the assignments of changed assets are written.
    With `rebuild`, unnamed people are dissolved first and their faces clustered again; named people keep
    their faces. Everything here is derived from the face vectors, so a run cut short is fixed by the next."""
    current = current_faces(catalog)
    people = read_people(catalog)
    previous = read_assignments(catalog)
    if rebuild:
        people = {pid: p for pid, p in people.items() if p.name}
    report = ClusterReport(faces=len(current))
    kept, members, touched = _keep(previous, current, people, rebuild, report)
    waiting = sorted(key for key in current if key not in kept)
    touched.update(key[0] for key in waiting)
    # People whose stored face count disagrees with their kept faces lost some (or a run was cut short): their
    # centroids are computed again from their faces; the others keep theirs.
    stale = {pid for pid, person in people.items() if person.face_count != members.get(pid, 0)}
    recount = [key for key, (pid, _) in kept.items() if pid in stale]
    vectors = face_vectors(catalog, [*waiting, *recount])
    _recompute(people, stale, {key: kept[key][0] for key in recount}, vectors)
    waiting = [key for key in waiting if key in vectors]
    assignments: Assignments = {}
    if waiting and people:
        ids = sorted(people)
        nearest = nearest_people(np.stack([vectors[key] for key in waiting]),
                                 np.stack([people[pid].centroid for pid in ids]), distance)  # fmt: skip
        joined: dict[int, list[FaceKey]] = {}
        for key, best in zip(waiting, nearest.tolist(), strict=True):
            if best >= 0:
                pid = ids[best]
                assignments[key] = (pid, current[key])
                joined.setdefault(pid, []).append(key)
                report.joined += 1
        for pid, keys in joined.items():
            person = people[pid]
            total = person.centroid * person.face_count + np.sum([vectors[k] for k in keys], axis=0)
            person.face_count += len(keys)
            person.centroid = (total / person.face_count).astype(np.float32)
        waiting = [key for key in waiting if key not in assignments]
    next_id = max(people, default=0) + 1
    for group in _clusters([vectors[key] for key in waiting], distance):
        if len(group) < min_faces:
            report.unassigned += len(group)
            continue
        keys = [waiting[index] for index in group]
        centroid = np.mean(np.stack([vectors[k] for k in keys]), axis=0).astype(np.float32)
        people[next_id] = Person(next_id, None, centroid, len(keys), now_iso())
        for key in keys:
            assignments[key] = (next_id, current[key])
        report.new_people += 1
        report.new_faces += len(keys)
        next_id += 1
    empty = [pid for pid, person in people.items() if not person.name and person.face_count == 0]
    for pid in empty:
        del people[pid]  # unnamed people without faces go; named ones stay to recognise their faces later
    uncounted = any(person.asset_count is None for person in people.values())
    if not (touched or stale or empty or rebuild or uncounted):
        return report  # nothing changed: no commit
    _count_assets(people, [*kept.items(), *assignments.items()])
    # People first: a crash before the assignments are written leaves people whose counts disagree with their
    # faces, which the next run recomputes, and the faces are simply assigned again.
    write_people(catalog, people)
    rows = {key: value for key, value in kept.items() if key[0] in touched}
    rows.update(assignments)
    write_assignments(catalog, rows, touched)
    return report


def _count_assets(people: dict[int, Person], faces: list[tuple[FaceKey, tuple[int, str | None]]]) -> None:
    """Set each person's asset count and cover (its first asset by id) from every assignment, for `people list`
    to page through the people table alone."""
    assets: dict[int, set[str]] = {}
    for (asset_id, _), (pid, _) in faces:
        assets.setdefault(pid, set()).add(asset_id)
    for pid, person in people.items():
        found = assets.get(pid, set())
        person.asset_count = len(found)
        person.cover = min(found) if found else None


def _keep(
    previous: Assignments, current: dict[FaceKey, str | None], people: dict[int, Person], rebuild: bool,
    report: ClusterReport,
) -> tuple[Assignments, dict[int, int], set[str]]:  # fmt: skip
    """The assignments that still hold (their person is there, their face's descriptor is unchanged), the kept
    faces per person, and the assets whose assignment rows change (`report.kept` and `.dropped` counted)."""
    kept: Assignments = {}
    members: dict[int, int] = {}
    touched: set[str] = set()  # assets whose assignment rows change
    for key, (pid, digest) in previous.items():
        if pid in people and digest is not None and current.get(key) == digest:
            kept[key] = (pid, digest)
            members[pid] = members.get(pid, 0) + 1
            continue
        touched.add(key[0])
        if not (rebuild and pid not in people):
            report.dropped += 1
    report.kept = len(kept)
    return kept, members, touched


def _recompute(
    people: dict[int, Person], stale: set[int], owners: dict[FaceKey, int], vectors: dict[FaceKey, NDArray[np.float32]]
) -> None:
    """Set the centroid and face count of the `stale` people from their kept faces (`owners`: face -> person)."""
    grouped: dict[int, list[NDArray[np.float32]]] = {}
    for key, pid in owners.items():
        if key in vectors:
            grouped.setdefault(pid, []).append(vectors[key])
    for pid in stale:
        person = people[pid]
        found = grouped.get(pid)
        if found:
            person.centroid = np.mean(np.stack(found), axis=0).astype(np.float32)
        person.face_count = len(found or [])  # a named person with none keeps its last centroid


def nearest_people(faces: NDArray[np.float32], centroids: NDArray[np.float32], distance: float) -> NDArray[np.int64]:
    """For each face, the index of its nearest centroid within `distance` (-1: none), over an IVF index of the
    centroids (exact up to 20k people, else the faces' nearest k-means lists of centroids are searched)."""
    out = np.full(len(faces), -1, np.int64)
    if not len(faces) or not len(centroids) or distance <= 0:
        return out
    found = NeighborIndex(centroids).search(faces, 1, distance, probes=PROBES)
    out[found.left] = found.right
    return out


def all_pairs_nearest(
    vectors: NDArray[np.float32], centroids: NDArray[np.float32], chunk: int = 4096
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """For each vector, the index of its nearest centroid and the Euclidean distance to it (every centroid
    compared, in chunks: the former way, for tests and the benchmark)."""
    squares = np.einsum("ij,ij->i", centroids, centroids)
    best = np.empty(len(vectors), np.int64)
    gaps = np.empty(len(vectors), np.float32)
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]
        d2 = np.einsum("ij,ij->i", part, part)[:, None] + squares[None, :] - 2.0 * part @ centroids.T
        best[start : start + len(part)] = np.argmin(d2, axis=1)
        gaps[start : start + len(part)] = np.sqrt(
            np.maximum(d2[np.arange(len(part)), best[start : start + len(part)]], 0)
        )
    return best, gaps


def _clusters(vectors: list[NDArray[np.float32]], distance: float) -> list[list[int]]:
    """Groups of indices of faces within `distance` of each other (Chinese whispers on their k-NN graph)."""
    if not vectors:
        return []
    if distance <= 0:
        return [[i] for i in range(len(vectors))]  # nothing is that close: every face on its own
    return sparse_clusters(np.stack(vectors).astype(np.float32), distance)


def all_pairs_clusters(vectors: list[NDArray[np.float32]], distance: float) -> list[list[int]]:
    """Groups of indices of faces within `distance` of each other: dlib's Chinese whispers (graph clustering on
    the edges closer than `distance`), or a greedy nearest-leader grouping where dlib is missing (the former way,
    O(n²): for tests and the benchmark)."""
    if not vectors:
        return []
    labels: list[int]
    if distance <= 0:
        labels = list(range(len(vectors)))  # nothing is that close: every face on its own
    elif importlib.util.find_spec("dlib") is not None:
        import dlib

        labels = list(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in vectors], distance))
    else:
        leaders: list[NDArray[np.float32]] = []
        labels = []
        for vector in vectors:
            gaps = [float(np.linalg.norm(vector - leader)) for leader in leaders]
            if gaps and min(gaps) <= distance:
                labels.append(int(np.argmin(gaps)))
            else:
                labels.append(len(leaders))
                leaders.append(vector)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return sorted(groups.values(), key=lambda g: g[0])


def rename(catalog: Catalog, person: Person, name: str) -> None:
    """Give a person a name (which pins it: reclustering never splits or renames it)."""
    people = read_people(catalog)
    people[person.id].name = name
    write_people(catalog, people)


def merge(catalog: Catalog, target: Person, others: list[Person]) -> Person:
    """Move the faces of `others` to `target` and drop them; the target keeps its name, else takes the first
    other's name. Returns the merged person."""
    people = read_people(catalog)
    gone = {p.id for p in others if p.id != target.id}
    merged = people[target.id]
    if not merged.name:
        merged.name = next((people[p.id].name for p in others if p.id in gone and people[p.id].name), None)
    counts = [people[pid].face_count for pid in (target.id, *sorted(gone))]
    vectors = [people[pid].centroid for pid in (target.id, *sorted(gone))]
    if sum(counts):
        merged.centroid = (np.average(np.stack(vectors), axis=0, weights=counts)).astype(np.float32)
    merged.face_count = sum(counts)
    for pid in gone:
        del people[pid]
    # Assignments first (one update commit): a crash before the people are written leaves the others without
    # faces (dropped or kept empty by the next clustering run), never faces pointing at a person that is gone.
    move_people(catalog, gone, target.id)
    assets = assets_of_person(catalog, target.id)  # that person's rows only
    merged.asset_count, merged.cover = len(assets), min(assets, default=None)
    write_people(catalog, people)
    return merged
