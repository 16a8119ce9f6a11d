"""Read-side views of people for commands, the search filter and the API: who, which assets, which faces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chronicon.api import Catalog, Section, display_path

from .analyzer import FacesPass
from .store import Person, assets_of_person, read_listing, read_people, resolve


@dataclass
class PersonSummary:
    """One person as `people list` shows it."""

    person: Person
    faces: int
    assets: int
    example: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.person.id,
            "name": self.person.name,
            "label": self.person.label,
            "faces": self.faces,
            "assets": self.assets,
            "example": self.example,
        }


@dataclass
class Page:
    """One page of `people list`: its people and how many there are in all."""

    people: list[PersonSummary] = field(default_factory=list)
    total: int = 0
    offset: int = 0


def settings(config: Any) -> tuple[float, int]:
    """(cluster_distance, min_faces) from the config, with the pass's defaults when its section is absent."""
    values = config.section("faces")
    if "cluster_distance" not in list(values):
        values = Section.declared("faces", FacesPass.settings)
    return values.float("cluster_distance"), values.int("min_faces")


def summaries(catalog: Catalog, *, min_faces: int = 1, limit: int | None = None, offset: int = 0) -> Page:
    """People with at least `min_faces` faces (a named one with any), most faces first, `limit` of them from
    `offset`: read from the people table (counts and cover kept by clustering), never the assignments; only the
    page's covers are looked up for their path (a cover that went missing shows no example)."""
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError(f"limit and offset must not be negative (got {limit}, {offset})")
    listed = [p for p in read_listing(catalog) if p.face_count >= min_faces or (p.name and p.face_count)]
    listed.sort(key=lambda p: (-p.face_count, p.id))
    page = listed[offset : None if limit is None else offset + limit]
    covers = {p.cover for p in page if p.cover}
    rows = catalog.rows_by_id(covers, ["id", "path", "missing"]) if covers else {}
    out: list[PersonSummary] = []
    for person in page:
        row = rows.get(person.cover or "")
        example = display_path(row["path"]) if row is not None and not row.get("missing") else None
        out.append(PersonSummary(person, person.face_count, person.asset_count or 0, example))
    return Page(out, len(listed), offset)


def find(catalog: Catalog, value: str | int) -> Person:
    """The person called `value` (a name, any case, or an id); LookupError when there is none."""
    return resolve(read_people(catalog), value)


def asset_ids(catalog: Catalog, value: str | int) -> set[str]:
    """The assets where the person shows up (the `--person` search filter; reads only that person's rows)."""
    person = find(catalog, value)
    return set(assets_of_person(catalog, person.id))


def appearances(catalog: Catalog, person: Person) -> list[dict[str, Any]]:
    """The present assets of a person with, per face, its number, box and (videos) shot times."""
    assets = assets_of_person(catalog, person.id)
    rows = catalog.rows_by_id(assets, ["id", "path", "kind", "missing", "taken_at", "faces"]) if assets else {}
    out: list[dict[str, Any]] = []
    for asset_id, numbers in assets.items():
        row = rows.get(asset_id)
        if row is None or row.get("missing"):
            continue
        try:
            entries = {int(e["n"]): e for e in json.loads(row.get("faces") or "[]")}
        except (ValueError, TypeError, KeyError):
            entries = {}
        faces = [
            {k: entries[n].get(k) for k in ("n", "segment", "t", "t_end", "box", "score", "crop")}
            for n in numbers
            if n in entries
        ]
        out.append(
            {
                "id": asset_id,
                "path": display_path(row["path"]),
                "kind": row.get("kind"),
                "taken_at": row.get("taken_at"),
                "faces": faces,
            }
        )
    out.sort(key=lambda a: (str(a.get("taken_at") or ""), a["path"]))
    return out
