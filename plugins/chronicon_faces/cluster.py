"""Incremental clustering of face descriptors into people, plus naming and merging them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .store import (
    Face,
    FaceKey,
    Person,
    drop_stale_vectors,
    now_iso,
    read_assignments,
    read_faces,
    read_people,
    write_assignments,
    write_people,
)

Assignments = dict[FaceKey, tuple[int, str | None]]


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


def update(catalog: Any, *, distance: float, min_faces: int, rebuild: bool = False) -> ClusterReport:
    """Bring people up to date with the stored faces: drop assignments of faces that are gone or changed, put
    each new face with the nearest person within `distance`, and cluster the rest into new people.

    With `rebuild`, unnamed people are dissolved first and their faces clustered again; named people keep
    their faces. Everything here is derived from the face vectors, so a run cut short is fixed by the next."""
    db = catalog.db
    faces, stale = read_faces(catalog)
    drop_stale_vectors(catalog, faces, stale)
    people = read_people(db)
    previous = read_assignments(db)
    if rebuild:
        people = {pid: p for pid, p in people.items() if p.name}
    report = ClusterReport(faces=len(faces))
    assignments: Assignments = {}
    for key, (pid, content_hash) in previous.items():
        face = faces.get(key)
        if face is not None and pid in people and face.content_hash == content_hash:
            assignments[key] = (pid, content_hash)
        elif not (rebuild and pid not in people):
            report.dropped += 1
    report.kept = len(assignments)
    _refresh(people, assignments, faces)
    waiting = sorted(key for key in faces if key not in assignments)
    if waiting and people:
        ids = sorted(people)
        nearest, gaps = _nearest(np.stack([faces[key].vector for key in waiting]),
                                 np.stack([people[pid].centroid for pid in ids]))  # fmt: skip
        for key, best, gap in zip(waiting, nearest, gaps, strict=True):
            if float(gap) <= distance:
                assignments[key] = (ids[int(best)], faces[key].content_hash)
                report.joined += 1
        waiting = [key for key in waiting if key not in assignments]
    next_id = max(people, default=0) + 1
    for members in _clusters([faces[key].vector for key in waiting], distance):
        if len(members) < min_faces:
            report.unassigned += len(members)
            continue
        people[next_id] = Person(next_id, None, np.zeros(faces[waiting[0]].vector.shape, np.float32), 0, now_iso())
        for index in members:
            key = waiting[index]
            assignments[key] = (next_id, faces[key].content_hash)
        report.new_people += 1
        report.new_faces += len(members)
        next_id += 1
    _refresh(people, assignments, faces)
    # People first: a crash before the assignments are written leaves people without faces, which the next
    # run drops (unnamed) or keeps (named), and the faces are simply assigned again.
    write_people(db, people)
    write_assignments(db, assignments)
    return report


def _nearest(
    vectors: NDArray[np.float32], centroids: NDArray[np.float32], chunk: int = 4096
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """For each vector, the index of its nearest centroid and the Euclidean distance to it (in chunks)."""
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


def _refresh(people: dict[int, Person], assignments: Assignments, faces: dict[FaceKey, Face]) -> None:
    """Recompute each person's centroid and face count; unnamed people without faces are dropped."""
    members: dict[int, list[NDArray[np.float32]]] = {}
    for key, (pid, _) in assignments.items():
        members.setdefault(pid, []).append(faces[key].vector)
    for pid in list(people):
        vectors = members.get(pid)
        person = people[pid]
        if vectors:
            person.centroid = np.mean(np.stack(vectors), axis=0).astype(np.float32)
            person.face_count = len(vectors)
        elif person.name:
            person.face_count = 0  # kept, with its last centroid, so its faces are recognised when they return
        else:
            del people[pid]


def _clusters(vectors: list[NDArray[np.float32]], distance: float) -> list[list[int]]:
    """Groups of indices of faces within `distance` of each other: dlib's Chinese whispers (graph clustering on
    the edges closer than `distance`), or a greedy nearest-leader grouping where dlib is missing."""
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


def rename(db: Any, person: Person, name: str) -> None:
    """Give a person a name (which pins it: reclustering never splits or renames it)."""
    people = read_people(db)
    people[person.id].name = name
    write_people(db, people)


def merge(db: Any, target: Person, others: list[Person]) -> Person:
    """Move the faces of `others` to `target` and drop them; the target keeps its name, else takes the first
    other's name. Returns the merged person."""
    people = read_people(db)
    assignments = read_assignments(db)
    gone = {p.id for p in others if p.id != target.id}
    moved: Assignments = {k: ((target.id if pid in gone else pid), h) for k, (pid, h) in assignments.items()}
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
    # Assignments first: a crash before the people are written leaves the others without faces (dropped or
    # kept empty by the next clustering run), never faces pointing at a person that is gone.
    write_assignments(db, moved)
    write_people(db, people)
    return merged
