"""The plugin's own catalog tables (`faces_people`, `faces_assign`) and the face descriptors it clusters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .analyzer import FACE_DIM, FACE_SPACE

PEOPLE_TABLE = "faces_people"
ASSIGN_TABLE = "faces_assign"

PEOPLE_SCHEMA = pa.schema(
    [
        pa.field("person_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("centroid", pa.list_(pa.float32(), FACE_DIM)),
        pa.field("face_count", pa.int64()),
        pa.field("created_at", pa.string()),
    ]
)
ASSIGN_SCHEMA = pa.schema(
    [
        pa.field("asset_id", pa.string(), nullable=False),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("person_id", pa.int64(), nullable=False),
        pa.field("content_hash", pa.string()),
    ]
)

FaceKey = tuple[str, int]  # (asset id, face number n)


@dataclass
class Person:
    """A cluster of faces; a named person is never renamed or split by reclustering."""

    id: int
    name: str | None
    centroid: NDArray[np.float32]
    face_count: int
    created_at: str

    @property
    def label(self) -> str:
        return self.name or f"unnamed #{self.id}"


@dataclass
class Face:
    """A stored face descriptor: the vector row of the face space, keyed by (asset id, n)."""

    asset_id: str
    n: int
    vector: NDArray[np.float32]
    content_hash: str | None
    t_start: float | None
    t_end: float | None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _open(db: Any, name: str) -> Any | None:
    try:
        return db.open_table(name)
    except (ValueError, FileNotFoundError):
        return None


def _overwrite(db: Any, name: str, data: pa.Table) -> None:
    """Replace a table's rows in one commit (a new table version: readers see the old or the new rows)."""
    table = _open(db, name)
    if table is None:
        db.create_table(name, data=data, schema=data.schema, exist_ok=True)
        table = _open(db, name)
        if table is not None and table.count_rows() == len(data):
            return
    assert table is not None
    table.add(data, mode="overwrite")


def read_people(db: Any) -> dict[int, Person]:
    table = _open(db, PEOPLE_TABLE)
    if table is None:
        return {}
    data = table.to_arrow()
    people: dict[int, Person] = {}
    centroids = data.column("centroid").combine_chunks()
    flat = centroids.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    matrix = flat.reshape(len(data), FACE_DIM) if len(data) else np.zeros((0, FACE_DIM), np.float32)
    cols = data.select(["person_id", "name", "face_count", "created_at"]).to_pydict()
    for i, pid in enumerate(cols["person_id"]):
        people[int(pid)] = Person(
            int(pid), cols["name"][i], matrix[i].copy(), int(cols["face_count"][i] or 0), cols["created_at"][i] or ""
        )
    return people


def write_people(db: Any, people: dict[int, Person]) -> None:
    ordered = sorted(people.values(), key=lambda p: p.id)
    matrix = np.stack([p.centroid for p in ordered]).astype(np.float32) if ordered else np.zeros((0, FACE_DIM))
    data = pa.table(
        {
            "person_id": pa.array([p.id for p in ordered], pa.int64()),
            "name": pa.array([p.name for p in ordered], pa.string()),
            "centroid": pa.FixedSizeListArray.from_arrays(
                pa.array(matrix.reshape(-1).astype(np.float32), pa.float32()), FACE_DIM
            ),
            "face_count": pa.array([p.face_count for p in ordered], pa.int64()),
            "created_at": pa.array([p.created_at for p in ordered], pa.string()),
        },
        schema=PEOPLE_SCHEMA,
    )
    _overwrite(db, PEOPLE_TABLE, data)


def read_assignments(db: Any) -> dict[FaceKey, tuple[int, str | None]]:
    """(asset id, n) -> (person id, content hash of the file the face came from)."""
    table = _open(db, ASSIGN_TABLE)
    if table is None:
        return {}
    cols = table.to_arrow().to_pydict()
    return {
        (a, int(n)): (int(p), h)
        for a, n, p, h in zip(cols["asset_id"], cols["n"], cols["person_id"], cols["content_hash"], strict=True)
    }


def write_assignments(db: Any, assignments: dict[FaceKey, tuple[int, str | None]]) -> None:
    keys = sorted(assignments)
    data = pa.table(
        {
            "asset_id": pa.array([k[0] for k in keys], pa.string()),
            "n": pa.array([k[1] for k in keys], pa.int64()),
            "person_id": pa.array([assignments[k][0] for k in keys], pa.int64()),
            "content_hash": pa.array([assignments[k][1] for k in keys], pa.string()),
        },
        schema=ASSIGN_SCHEMA,
    )
    _overwrite(db, ASSIGN_TABLE, data)


def face_counts(catalog: Any) -> dict[str, int]:
    """Asset id -> faces the pass found there, for every asset the pass ran on."""
    if "face_count" not in catalog.schema.names:
        return {}
    data = catalog.to_arrow(["id", "face_count"], where="face_count IS NOT NULL").to_pydict()
    return {a: int(c) for a, c in zip(data["id"], data["face_count"], strict=True)}


def read_faces(catalog: Any) -> tuple[dict[FaceKey, Face], set[str]]:
    """The current faces (vector rows of the face space that the asset's `face_count` still covers), and the
    assets whose rows are stale (the pass ran again and found fewer faces, or none)."""
    table = catalog.open_vector_table(FACE_SPACE)
    if table is None:
        return {}, set()
    counts = face_counts(catalog)
    data = catalog.db.open_table(table.name).to_arrow()
    if not len(data):
        return {}, set()
    flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False).astype(np.float32)
    matrix = flat.reshape(len(data), FACE_DIM)
    cols = data.select(["asset_id", "segment", "t_start", "t_end", "content_hash"]).to_pydict()
    faces: dict[FaceKey, Face] = {}
    stale: set[str] = set()
    for i, asset_id in enumerate(cols["asset_id"]):
        n = int(cols["segment"][i] or 0)
        count = counts.get(asset_id)
        if count is None:
            continue  # the pass has not (successfully) run on it since: leave its rows alone
        if n < 1 or n > count:
            stale.add(asset_id)
            continue
        faces[(asset_id, n)] = Face(
            asset_id, n, matrix[i].copy(), cols["content_hash"][i], cols["t_start"][i], cols["t_end"][i]
        )
    return faces, stale


def drop_stale_vectors(catalog: Any, faces: dict[FaceKey, Face], stale: set[str]) -> None:
    """Remove vector rows the pass no longer vouches for: whole assets with no face left (a partial overflow is
    already replaced by the scan's own commit)."""
    empty = {a for a in stale if not any(k[0] == a for k in faces)}
    table = catalog.open_vector_table(FACE_SPACE)
    if table is not None and empty:
        table.delete_assets(empty)


def resolve(people: dict[int, Person], value: str | int) -> Person:
    """A person by name (any case) or id; LookupError naming the choices when there is none."""
    text = str(value).strip()
    by_name = [p for p in people.values() if p.name and p.name.casefold() == text.casefold()]
    if by_name:
        return by_name[0]
    digits = text[1:] if text.startswith("#") else text
    if digits.isdigit() and int(digits) in people:
        return people[int(digits)]
    named = sorted(p.name for p in people.values() if p.name)
    hint = f"named: {', '.join(named)}" if named else "nobody is named yet"
    raise LookupError(f"no person {text!r} (use a name or an id from `chronicon people list`; {hint})")
