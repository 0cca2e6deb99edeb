"""The README's benchmark tables are what `bench/readme.py` renders from `bench/results/*.json`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tables_match_the_benchmark_results() -> None:
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "readme.py")
    assert spec is not None and spec.loader is not None
    readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- bench:") == len(readme.TABLES) == 16
    assert readme.rendered(text) == text, "README.md's tables are stale: run .venv/bin/python bench/readme.py"


def test_a_changed_result_changes_the_rendered_table(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "readme.py")
    assert spec is not None and spec.loader is not None
    readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = text.replace("| ratio | ", "| ratio | 9", 1)  # a figure typed by hand into a rendered table
    assert stale != text and readme.rendered(stale) == text
