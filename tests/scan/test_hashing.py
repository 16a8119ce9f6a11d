"""Content hashes: equal for equal bytes, sampled for big files."""

from __future__ import annotations

import os
from pathlib import Path

from chronicon.scan.hashing import SAMPLED_ABOVE, content_hash


def test_small_files_hash_whole_and_equal_in_both_modes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"hello" * 100)
    b.write_bytes(b"hello" * 100)
    assert content_hash(str(a)) == content_hash(str(b)) == content_hash(str(a), "full")
    b.write_bytes(b"hellO" * 100)
    assert content_hash(str(a)) != content_hash(str(b))


def test_big_files_are_sampled_but_see_start_middle_end(tmp_path: Path) -> None:
    data = bytearray(os.urandom(SAMPLED_ABOVE + 12345))
    path = tmp_path / "big"
    path.write_bytes(bytes(data))
    base = content_hash(str(path))
    assert base.startswith("s:")
    assert content_hash(str(path), "full").startswith("f:")
    for offset in (10, len(data) // 2, len(data) - 10):
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        path.write_bytes(bytes(changed))
        assert content_hash(str(path)) != base, offset
