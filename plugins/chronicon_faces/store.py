"""The plugin's own catalog tables (`faces_people`, `faces_assign`) and narrow reads of the face descriptors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chronicon.api import Catalog, PluginTable, Where, chunked, col

from .analyzer import FACE_DIM, FACE_SPACE

PEOPLE_TABLE = "faces_people"
ASSIGN_TABLE = "faces_assign"
_IN_CHUNK = 2_000  # ids per `IN (...)` filter

PEOPLE_SCHEMA = pa.schema(
    [
        pa.field("person_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("centroid", pa.list_(pa.float32(), FACE_DIM)),
        pa.field("face_count", pa.int64()),
        pa.field("created_at", pa.string()),
        pa.field("asset_count", pa.int64()),  # assets with a face of the person (null: written before it existed)
        pa.field("cover", pa.string()),  # one of those assets, the example `people list` shows
    ]
)
ASSIGN_SCHEMA = pa.schema(
    [
        pa.field("asset_id", pa.string(), nullable=False),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("person_id", pa.int64(), nullable=False),
        pa.field("descriptor", pa.string()),  # digest of the face's descriptor when it was assigned
    ]
)

FaceKey = tuple[str, int]  # (asset id, face number n)
Assignments = dict[FaceKey, tuple[int, str | None]]  # face -> (person id, descriptor digest)


@dataclass
class Person:
    """A cluster of faces; a named person is never renamed or split by reclustering."""

    id: int
    name: str | None
    centroid: NDArray[np.float32]
    face_count: int
    created_at: str
    asset_count: int | None = None  # None: not counted yet (a table of an earlier plugin version)
    cover: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"unnamed #{self.id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def people_table(catalog: Catalog) -> PluginTable:
    """The people: one row per person (id, name, centroid, face count)."""
    return catalog.plugin_table(PEOPLE_TABLE, PEOPLE_SCHEMA, key=["person_id"])


def assign_table(catalog: Catalog) -> PluginTable:
    """The assignments: one row per face (asset id, n) with its person and descriptor digest. One written before
    the `descriptor` column existed gets it as nulls, so its faces are simply assigned again."""
    return catalog.plugin_table(ASSIGN_TABLE, ASSIGN_SCHEMA, key=["asset_id", "n"])


def read_people(catalog: Catalog) -> dict[int, Person]:
    data = people_table(catalog).read()
    people: dict[int, Person] = {}
    centroids = data.column("centroid").combine_chunks()
    flat = centroids.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    matrix = flat.reshape(len(data), FACE_DIM) if len(data) else np.zeros((0, FACE_DIM), np.float32)
    cols = data.select(["person_id", "name", "face_count", "created_at", "asset_count", "cover"]).to_pydict()
    for i, pid in enumerate(cols["person_id"]):
        count = cols["asset_count"][i]
        people[int(pid)] = Person(
            int(pid), cols["name"][i], matrix[i].copy(), int(cols["face_count"][i] or 0), cols["created_at"][i] or "",
            None if count is None else int(count), cols["cover"][i],
        )  # fmt: skip
    return people


def read_listing(catalog: Catalog) -> list[Person]:
    """Every person without the centroid (id, name, counts, cover): what `people list` pages through."""
    cols = people_table(catalog).read(["person_id", "name", "face_count", "created_at", "asset_count", "cover"])
    data = cols.to_pydict()
    empty = np.zeros(0, np.float32)
    return [
        Person(int(pid), name, empty, int(faces or 0), created or "", None if count is None else int(count), cover)
        for pid, name, faces, created, count, cover in zip(
            data["person_id"], data["name"], data["face_count"], data["created_at"], data["asset_count"],
            data["cover"], strict=True,
        )
    ]  # fmt: skip


def write_people(catalog: Catalog, people: dict[int, Person]) -> None:
    """Rewrite the people table in one commit (one row per person: small next to the faces)."""
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
            "asset_count": pa.array([p.asset_count for p in ordered], pa.int64()),
            "cover": pa.array([p.cover for p in ordered], pa.string()),
        },
        schema=PEOPLE_SCHEMA,
    )
    people_table(catalog).replace(data)


def read_assignments(catalog: Catalog, where: Where | None = None) -> Assignments:
    """(asset id, n) -> (person id, descriptor digest), for every face or those matching `where`."""
    cols = assign_table(catalog).read(["asset_id", "n", "person_id", "descriptor"], where).to_pydict()
    return {
        (a, int(n)): (int(p), d)
        for a, n, p, d in zip(cols["asset_id"], cols["n"], cols["person_id"], cols["descriptor"], strict=True)
    }


def assets_of_person(catalog: Catalog, person_id: int) -> dict[str, list[int]]:
    """Asset id -> face numbers of one person, read with a filter (not the whole table)."""
    cols = assign_table(catalog).read(["asset_id", "n"], col("person_id") == int(person_id)).to_pydict()
    out: dict[str, list[int]] = {}
    for asset_id, n in sorted(zip(cols["asset_id"], cols["n"], strict=True)):
        out.setdefault(asset_id, []).append(int(n))
    return out


def _assign_data(assignments: Assignments) -> pa.Table:
    keys = sorted(assignments)
    return pa.table(
        {
            "asset_id": pa.array([k[0] for k in keys], pa.string()),
            "n": pa.array([k[1] for k in keys], pa.int64()),
            "person_id": pa.array([assignments[k][0] for k in keys], pa.int64()),
            "descriptor": pa.array([assignments[k][1] for k in keys], pa.string()),
        },
        schema=ASSIGN_SCHEMA,
    )


def write_assignments(catalog: Catalog, assignments: Assignments, assets: Iterable[str]) -> None:
    """Make the faces of these assets hold exactly the given assignments (one merge commit per 2,000 assets, which
    also deletes the rows of their faces that got none); the rows of other assets are left alone."""
    by_asset: dict[str, Assignments] = {}
    for key, value in assignments.items():
        by_asset.setdefault(key[0], {})[key] = value
    touched = set(assets) | set(by_asset)
    if not touched:
        return
    table = assign_table(catalog)
    if not table.exists():
        table.replace(_assign_data(assignments))
        return
    for part in chunked(touched, _IN_CHUNK):
        rows = {k: v for a in part for k, v in by_asset.get(a, {}).items()}
        table.upsert(_assign_data(rows), replacing=col("asset_id").isin(part))


def move_people(catalog: Catalog, sources: Iterable[int], target: int) -> None:
    """Give the faces of the `sources` people to `target` (one update commit)."""
    ids = sorted({int(s) for s in sources})
    if ids:
        assign_table(catalog).update(col("person_id").isin(ids), {"person_id": int(target)})


def current_faces(catalog: Catalog) -> dict[FaceKey, str | None]:
    """Every face the pass vouches for now, (asset id, n) -> descriptor digest (the face rows' `content_hash`
    column), read without the vectors: the rows whose asset has a `face_count` (the pass succeeded) covering n."""
    table = catalog.open_vector_table(FACE_SPACE)
    if table is None or "face_count" not in catalog.schema.names:
        return {}
    data = catalog.to_arrow(["id", "face_count"], where=col("face_count") > 0).to_pydict()
    counts = {a: int(c) for a, c in zip(data["id"], data["face_count"], strict=True)}
    cols = table.read(["asset_id", "segment", "content_hash"]).to_pydict()
    out: dict[FaceKey, str | None] = {}
    for asset_id, segment, digest in zip(cols["asset_id"], cols["segment"], cols["content_hash"], strict=True):
        n = int(segment or 0)
        if 1 <= n <= counts.get(asset_id, 0):
            out[(asset_id, n)] = digest
    return out


WHOLE_TABLE = 5_000  # above this many assets the descriptors are read in one scan of the table, not by `IN` lists


def face_vectors(catalog: Catalog, keys: Iterable[FaceKey]) -> dict[FaceKey, NDArray[np.float32]]:
    """The descriptors of these faces (read by asset in `IN` chunks, or in one scan for many assets)."""
    wanted = set(keys)
    table = catalog.open_vector_table(FACE_SPACE)
    if table is None or not wanted:
        return {}
    out: dict[FaceKey, NDArray[np.float32]] = {}
    assets = {a for a, _ in wanted}
    if len(assets) > WHOLE_TABLE:
        data = table.read(["asset_id", "segment", "vector"])
        flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        matrix = np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), table.dim)
        segments = data.column("segment").to_pylist()
        for i, asset_id in enumerate(data.column("asset_id").to_pylist()):
            key = (asset_id, int(segments[i] or 0))
            if key in wanted:
                out[key] = matrix[i]
        return out
    for asset_id, rows in table.vectors_for(assets).items():
        for row in rows:
            key = (asset_id, int(row.segment))
            if key in wanted:
                out[key] = np.asarray(row.vector, dtype=np.float32)
    return out


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
