"""Read-side views of people for commands, the search filter and the API: who, which assets, which faces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chronicon.api import Catalog, Section, display_path

from .analyzer import FacesPass
from .store import Person, assets_of_person, read_assignments, read_people, resolve


@dataclass
class PersonSummary:
    """One person as `people list` shows it."""

    person: Person
    faces: int
    assets: list[str] = field(default_factory=list)
    example: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.person.id,
            "name": self.person.name,
            "label": self.person.label,
            "faces": self.faces,
            "assets": len(self.assets),
            "example": self.example,
        }


def settings(config: Any) -> tuple[float, int]:
    """(cluster_distance, min_faces) from the config, with the pass's defaults when its section is absent."""
    values = config.section("faces")
    if "cluster_distance" not in list(values):
        values = Section.declared("faces", FacesPass.settings)
    return values.float("cluster_distance"), values.int("min_faces")


def faces_by_person(catalog: Catalog) -> dict[int, dict[str, list[int]]]:
    """person id -> asset id -> the face numbers of that person there (every assignment: for `people list`)."""
    out: dict[int, dict[str, list[int]]] = {}
    for (asset_id, n), (pid, _) in sorted(read_assignments(catalog).items()):
        out.setdefault(pid, {}).setdefault(asset_id, []).append(n)
    return out


def summaries(catalog: Catalog, *, min_faces: int = 1) -> list[PersonSummary]:
    """People with at least `min_faces` faces on assets that are present, most faces first."""
    people = read_people(catalog)
    by_person = faces_by_person(catalog)
    wanted = {a for assets in by_person.values() for a in assets}
    rows = catalog.rows_by_id(wanted, ["id", "path", "missing"]) if wanted else {}
    present = {a: r for a, r in rows.items() if not r.get("missing")}
    out: list[PersonSummary] = []
    for pid, person in people.items():
        assets = sorted((a for a in by_person.get(pid, {}) if a in present), key=lambda a: present[a]["path"])
        faces = sum(len(by_person[pid][a]) for a in assets)
        if faces < min_faces and not (person.name and faces):
            continue
        example = display_path(present[assets[0]]["path"]) if assets else None
        out.append(PersonSummary(person, faces, assets, example))
    out.sort(key=lambda s: (-s.faces, s.person.id))
    return out


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
