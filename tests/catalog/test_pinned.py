"""The pinned read view: inside `pinned()` a lookup is made once per key and thread; outside it, every time."""

from __future__ import annotations

import threading
from pathlib import Path

from chronicon.catalog.pinned import once, pinned, pinned_read
from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import Catalog


def test_once_computes_once_inside_and_every_time_outside() -> None:
    calls: list[int] = []

    def lookup() -> int:
        calls.append(1)
        return len(calls)

    assert once("k", lookup) == 1 and once("k", lookup) == 2  # no view: asked each time
    with pinned():
        assert once("k", lookup) == 3
        with pinned():  # nested: the outer view holds
            assert once("k", lookup) == 3
        assert once("other", lookup) == 4
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(once("k", lookup)))
        worker.start()
        worker.join()
        assert seen == [5]  # another thread has no view of its own
        assert once("k", lookup) == 3
    assert once("k", lookup) == 6  # the view ended with the outermost block


def test_a_pinned_read_sees_one_version_and_the_next_read_sees_new_writes(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    row = empty_row(catalog.schema)
    row.update(id="a", path="/p/a.jpg", kind="image", size=1, status="done")
    catalog.upsert([row])

    @pinned_read
    def versions_around_a_write() -> tuple[int, int]:
        before = catalog.table_version()
        other = Catalog(tmp_path / "catalog")  # another handle (as another process) commits meanwhile
        other.upsert([{**row, "id": "b", "path": "/p/b.jpg"}])
        return before, catalog.table_version()

    before, during = versions_around_a_write()
    assert during == before  # one read, one view
    assert catalog.table_version() > before  # the next read sees the commit
    assert catalog.count() == 2
