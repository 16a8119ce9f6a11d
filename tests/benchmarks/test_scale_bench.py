"""Smoke test of benchmarks/scale_bench.py on a small catalog: it runs, prints every row, and keeps results equal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_scale_benchmark_runs_and_prints_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import scale_bench
    finally:
        sys.path.remove(str(BENCHMARKS))
    catalog = tmp_path / "catalog"
    args = ["--assets", "1500", "--queries", "3", "--repeat", "2", "--no-plugins", "--catalog", str(catalog)]
    assert scale_bench.main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    operations = [r["operation"] for r in result["rows"]]
    wanted = ["unchanged-rescan planning", "search, no prefilter", "search, prefilter 2,000 assets",
              "search, prefilter ~30 %", "browse, page 1", "browse, page at offset", "album refresh"]  # fmt: skip
    for expected in wanted:
        assert any(op.startswith(expected) for op in operations), expected
    assert result["assets"] == 1500 and result["build"]["reused"] is False
    for row in result["rows"]:
        assert row["before_ms"] > 0 and row["after_ms"] > 0, row
        assert row["same_results"] is True, row
    assert scale_bench.main(args) == 0  # reuses the catalog; the table has a line per row
    out = capsys.readouterr()
    table = out.out
    assert "building" not in out.err and "reusing" not in out.err
    for operation in operations:
        assert operation in table
