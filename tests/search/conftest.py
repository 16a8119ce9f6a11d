"""Fixtures: a catalog with hand-made assets and vectors, and a search engine over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import Catalog
from chronicon.catalog.vectors import VectorRow
from vectorfactory import ASSETS, DIM, SPACE, AxisEncoder, unit


@pytest.fixture
def filled_catalog(tmp_path: Path) -> Catalog:
    import pyarrow as pa

    catalog = Catalog(
        tmp_path / "catalog",
        extra_columns={"labels": pa.list_(pa.string()), "label_scores": pa.list_(pa.float64()),
                       "labels_text": pa.string(), "object_counts": pa.list_(pa.string())},
    )  # fmt: skip
    rows = []
    vectors = []
    for asset_id, spec in ASSETS.items():
        row = empty_row(catalog.schema)
        row.update(
            id=asset_id, path=f"/photos/{asset_id}.jpg", kind=spec["kind"], taken_at=spec["taken_at"],
            camera_make=spec["camera_make"], camera_model=spec["camera_model"], labels=spec["labels"],
            label_scores=[0.9] * len(spec["labels"]), labels_text=" ".join(spec["labels"]),
            missing=bool(spec.get("missing")), status="ok", size=1, mtime_ns=0,
        )  # fmt: skip
        people = 3 if asset_id == "a-beach" else 0
        row["object_counts"] = [f"person#{n}" for n in range(1, people + 1)]
        rows.append(row)
        vectors.append(VectorRow(asset_id, unit(**spec["vec"])))
    catalog.upsert(rows)
    catalog.vector_table(SPACE, DIM).replace(vectors)
    catalog.ensure_search_indexes(full_text=["labels_text"])
    return catalog


@pytest.fixture
def engine(filled_catalog: Catalog) -> Any:
    from chronicon.plugins import PluginHost
    from chronicon.search.engine import SearchEngine

    # The built-ins' contributions (the labels full-text list among them), as a Library would pass them.
    host = PluginHost()
    host.load(entry_points=False)
    spaces, text_lists = host.search_spaces()
    # (the relevance cutoff is off here: these tests check whole rankings; tests/search/test_cutoff.py has it on)
    return SearchEngine(filled_catalog, [], {"space": "auto", "hybrid": True, "rrf_k": 60, "cutoff": False},
                        spaces=spaces, text_lists=text_lists, encoders=[AxisEncoder()])  # fmt: skip


@pytest.fixture
def cutoff_engine(filled_catalog: Catalog) -> Any:
    from chronicon.plugins import PluginHost
    from chronicon.search.engine import SearchEngine

    host = PluginHost()
    host.load(entry_points=False)
    spaces, text_lists = host.search_spaces()
    return SearchEngine(filled_catalog, [], {"space": "auto", "hybrid": True, "rrf_k": 60},
                        spaces=spaces, text_lists=text_lists, encoders=[AxisEncoder()])  # fmt: skip
